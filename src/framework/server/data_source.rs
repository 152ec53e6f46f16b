//! ReadDataSource.

use super::{decode, encode, DynamicValue, Server};
use crate::framework::diagnostics::Diagnostics;
use crate::framework::provider::Provider;

impl<P: Provider> Server<P> {
    pub async fn read_data_source(&self, type_name: &str, config: Option<&DynamicValue>) -> Result<DynamicValue, Diagnostics> {
        let entry = self.data_source(type_name)?;
        let config = decode(config, &entry.ty)?;
        let client = self.configured_client().await?;
        let state = entry.imp.read(&client, &config).await?.conform(&entry.ty);
        encode(&state, &entry.ty)
    }
}
