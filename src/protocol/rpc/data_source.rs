//! ValidateDataResourceConfig and ReadDataSource.

use crate::framework::provider::Provider;
use crate::framework::server::Server;
use crate::protocol::convert::{self, dynamic};
use crate::protocol::generated::tfplugin6 as pb;

pub fn validate<P: Provider>(
    server: &Server<P>,
    req: pb::validate_data_resource_config::Request,
) -> pb::validate_data_resource_config::Response {
    let diags = server.validate_data_source_config(&req.type_name, dynamic(req.config).as_ref());
    pb::validate_data_resource_config::Response { diagnostics: convert::diagnostics(diags) }
}

pub async fn read<P: Provider>(server: &Server<P>, req: pb::read_data_source::Request) -> pb::read_data_source::Response {
    match server.read_data_source(&req.type_name, dynamic(req.config).as_ref()).await {
        Ok(state) => pb::read_data_source::Response { state: Some(state.into()), ..Default::default() },
        Err(d) => pb::read_data_source::Response { diagnostics: convert::diagnostics(d), ..Default::default() },
    }
}
