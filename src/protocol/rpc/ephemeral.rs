//! ValidateEphemeralResourceConfig, Open, Renew and CloseEphemeralResource.

use crate::framework::provider::Provider;
use crate::framework::server::Server;
use crate::protocol::convert::{self, dynamic};
use crate::protocol::generated::tfplugin6 as pb;

pub fn validate<P: Provider>(
    server: &Server<P>,
    req: pb::validate_ephemeral_resource_config::Request,
) -> pb::validate_ephemeral_resource_config::Response {
    let diags = server.validate_ephemeral_resource_config(&req.type_name, dynamic(req.config).as_ref());
    pb::validate_ephemeral_resource_config::Response { diagnostics: convert::diagnostics(diags) }
}

pub async fn open<P: Provider>(server: &Server<P>, req: pb::open_ephemeral_resource::Request) -> pb::open_ephemeral_resource::Response {
    match server.open_ephemeral_resource(&req.type_name, dynamic(req.config).as_ref()).await {
        Ok(opened) => pb::open_ephemeral_resource::Response {
            result: Some(opened.result.into()),
            renew_at: opened.renew_at.map(prost_types::Timestamp::from),
            private: Some(opened.private),
            ..Default::default()
        },
        Err(d) => pb::open_ephemeral_resource::Response { diagnostics: convert::diagnostics(d), ..Default::default() },
    }
}

pub async fn renew<P: Provider>(server: &Server<P>, req: pb::renew_ephemeral_resource::Request) -> pb::renew_ephemeral_resource::Response {
    let private = req.private.unwrap_or_default();
    match server.renew_ephemeral_resource(&req.type_name, &private).await {
        Ok(renew_at) => pb::renew_ephemeral_resource::Response {
            renew_at: renew_at.map(prost_types::Timestamp::from),
            private: Some(private),
            diagnostics: vec![],
        },
        Err(d) => pb::renew_ephemeral_resource::Response { diagnostics: convert::diagnostics(d), ..Default::default() },
    }
}

pub async fn close<P: Provider>(server: &Server<P>, req: pb::close_ephemeral_resource::Request) -> pb::close_ephemeral_resource::Response {
    let diags = server.close_ephemeral_resource(&req.type_name, &req.private.unwrap_or_default()).await;
    pb::close_ephemeral_resource::Response { diagnostics: convert::diagnostics(diags) }
}
