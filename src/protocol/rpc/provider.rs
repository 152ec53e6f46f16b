//! GetMetadata, GetProviderSchema, GetResourceIdentitySchemas, ValidateProviderConfig,
//! ConfigureProvider and StopProvider.

use crate::framework::provider::Provider;
use crate::framework::server::Server;
use crate::protocol::convert::{self, dynamic};
use crate::protocol::generated::tfplugin6 as pb;

fn server_capabilities() -> pb::ServerCapabilities {
    pb::ServerCapabilities {
        plan_destroy: true,
        get_provider_schema_optional: false,
        move_resource_state: false,
        generate_resource_config: true,
    }
}

pub fn metadata<P: Provider>(server: &Server<P>) -> pb::get_metadata::Response {
    use pb::get_metadata as m;
    let schemas = server.schemas();
    let names = |list: &[(&str, _)]| list.iter().map(|(name, _)| name.to_string()).collect::<Vec<_>>();
    m::Response {
        server_capabilities: Some(server_capabilities()),
        resources: names(&schemas.resources).into_iter().map(|type_name| m::ResourceMetadata { type_name }).collect(),
        data_sources: names(&schemas.data_sources).into_iter().map(|type_name| m::DataSourceMetadata { type_name }).collect(),
        ephemeral_resources: names(&schemas.ephemeral_resources).into_iter().map(|type_name| m::EphemeralMetadata { type_name }).collect(),
        functions: server.function_signatures().map(|(name, _)| m::FunctionMetadata { name: name.to_string() }).collect(),
        list_resources: names(&schemas.list_resources).into_iter().map(|type_name| m::ListResourceMetadata { type_name }).collect(),
        actions: names(&schemas.actions).into_iter().map(|type_name| m::ActionMetadata { type_name }).collect(),
        ..Default::default()
    }
}

pub fn schema<P: Provider>(server: &Server<P>) -> pb::get_provider_schema::Response {
    let schemas = server.schemas();
    let each = |list: &[(&str, &crate::framework::schema::Schema)]| {
        list.iter().map(|(name, schema)| (name.to_string(), convert::schema(schema))).collect()
    };
    pb::get_provider_schema::Response {
        provider: Some(convert::schema(schemas.provider)),
        resource_schemas: each(&schemas.resources),
        data_source_schemas: each(&schemas.data_sources),
        ephemeral_resource_schemas: each(&schemas.ephemeral_resources),
        functions: server.function_signatures().map(|(name, sig)| (name.to_string(), convert::function(&sig))).collect(),
        list_resource_schemas: each(&schemas.list_resources),
        action_schemas: schemas
            .actions
            .iter()
            .map(|(name, schema)| (name.to_string(), pb::ActionSchema { schema: Some(convert::schema(schema)) }))
            .collect(),
        server_capabilities: Some(server_capabilities()),
        ..Default::default()
    }
}

pub fn identity_schemas<P: Provider>(server: &Server<P>) -> pb::get_resource_identity_schemas::Response {
    pb::get_resource_identity_schemas::Response {
        identity_schemas: server.identity_schemas().map(|(name, s)| (name.to_string(), convert::identity_schema(s))).collect(),
        diagnostics: vec![],
    }
}

pub fn validate<P: Provider>(server: &Server<P>, req: pb::validate_provider_config::Request) -> pb::validate_provider_config::Response {
    let diags = server.validate_provider_config(dynamic(req.config).as_ref());
    pb::validate_provider_config::Response { diagnostics: convert::diagnostics(diags) }
}

pub async fn configure<P: Provider>(server: &Server<P>, req: pb::configure_provider::Request) -> pb::configure_provider::Response {
    let diags = server.configure(dynamic(req.config).as_ref(), &req.terraform_version).await.err().unwrap_or_default();
    pb::configure_provider::Response { diagnostics: convert::diagnostics(diags) }
}

pub fn stop<P: Provider>(server: &Server<P>) -> pb::stop_provider::Response {
    server.stop();
    pb::stop_provider::Response { error: String::new() }
}
