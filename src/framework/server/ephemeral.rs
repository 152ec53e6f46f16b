//! Open, Renew and CloseEphemeralResource: a result handed to other configuration for one run
//! and never stored; `private` is the resource's own, handed back on renew and close.

use super::{decode, encode, DynamicValue, Server};
use crate::framework::diagnostics::Diagnostics;
use crate::framework::provider::Provider;
use std::time::SystemTime;

pub struct OpenedEphemeral {
    pub result: DynamicValue,
    pub renew_at: Option<SystemTime>,
    pub private: Vec<u8>,
}

impl<P: Provider> Server<P> {
    pub async fn open_ephemeral_resource(&self, type_name: &str, config: Option<&DynamicValue>) -> Result<OpenedEphemeral, Diagnostics> {
        let entry = self.ephemeral_resource(type_name)?;
        let config = decode(config, &entry.ty)?;
        let client = self.configured_client().await?;
        let opened = entry.imp.open(&client, &config).await?;
        let result = encode(&opened.result.conform(&entry.ty), &entry.ty)?;
        Ok(OpenedEphemeral { result, renew_at: opened.renew_at, private: opened.private })
    }

    /// When to renew next, if ever.
    pub async fn renew_ephemeral_resource(&self, type_name: &str, private: &[u8]) -> Result<Option<SystemTime>, Diagnostics> {
        let entry = self.ephemeral_resource(type_name)?;
        let client = self.configured_client().await?;
        entry.imp.renew(&client, private).await
    }

    pub async fn close_ephemeral_resource(&self, type_name: &str, private: &[u8]) -> Diagnostics {
        let closed = async {
            let entry = self.ephemeral_resource(type_name)?;
            let client = self.configured_client().await?;
            Ok::<_, Diagnostics>(entry.imp.close(&client, private).await)
        };
        closed.await.unwrap_or_else(|d| d)
    }
}
