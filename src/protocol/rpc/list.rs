//! ValidateListResourceConfig and ListResource (a stream of found objects, or one event with
//! the diagnostics when the listing failed).

use crate::framework::provider::Provider;
use crate::framework::server::list::ListRequest;
use crate::framework::server::Server;
use crate::protocol::convert::{self, dynamic};
use crate::protocol::generated::tfplugin6 as pb;

pub fn validate<P: Provider>(
    server: &Server<P>,
    req: pb::validate_list_resource_config::Request,
) -> pb::validate_list_resource_config::Response {
    let diags = server.validate_list_resource_config(&req.type_name, dynamic(req.config).as_ref());
    pb::validate_list_resource_config::Response { diagnostics: convert::diagnostics(diags) }
}

pub async fn list<P: Provider>(server: &Server<P>, req: pb::list_resource::Request) -> Vec<pb::list_resource::Event> {
    let config = dynamic(req.config);
    let listed = server
        .list_resource(ListRequest {
            type_name: &req.type_name,
            config: config.as_ref(),
            include_resource_object: req.include_resource_object,
            limit: req.limit,
        })
        .await;
    match listed {
        Ok(objects) => objects
            .into_iter()
            .map(|object| pb::list_resource::Event {
                identity: Some(pb::ResourceIdentityData { identity_data: Some(object.identity.into()) }),
                display_name: object.display_name,
                resource_object: object.resource_object.map(Into::into),
                diagnostic: convert::diagnostics(object.diagnostics),
            })
            .collect(),
        Err(d) => vec![pb::list_resource::Event { diagnostic: convert::diagnostics(d), ..Default::default() }],
    }
}
