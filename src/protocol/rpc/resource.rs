//! The managed resource RPCs: Validate, UpgradeState/Identity, Read, Plan, Apply, Import, Move
//! and GenerateResourceConfig.

use crate::framework::provider::Provider;
use crate::framework::server::apply::ApplyRequest;
use crate::framework::server::plan::PlanRequest;
use crate::framework::server::upgrade::RawState;
use crate::framework::server::Server;
use crate::protocol::convert::{self, dynamic, identity, identity_data};
use crate::protocol::generated::tfplugin6 as pb;

pub fn validate<P: Provider>(server: &Server<P>, req: pb::validate_resource_config::Request) -> pb::validate_resource_config::Response {
    let diags = server.validate_resource_config(&req.type_name, dynamic(req.config).as_ref());
    pb::validate_resource_config::Response { diagnostics: convert::diagnostics(diags) }
}

pub fn upgrade_state<P: Provider>(server: &Server<P>, req: pb::upgrade_resource_state::Request) -> pb::upgrade_resource_state::Response {
    let raw = req.raw_state.unwrap_or_default();
    let raw = RawState { json: &raw.json, has_flatmap: !raw.flatmap.is_empty() };
    match server.upgrade_resource_state(&req.type_name, req.version, raw) {
        Ok(upgraded) => pb::upgrade_resource_state::Response { upgraded_state: Some(upgraded.into()), diagnostics: vec![] },
        Err(d) => pb::upgrade_resource_state::Response { upgraded_state: None, diagnostics: convert::diagnostics(d) },
    }
}

pub fn upgrade_identity<P: Provider>(
    server: &Server<P>,
    req: pb::upgrade_resource_identity::Request,
) -> pb::upgrade_resource_identity::Response {
    let raw = req.raw_identity.unwrap_or_default();
    match server.upgrade_resource_identity(&req.type_name, &raw.json) {
        Ok(upgraded) => pb::upgrade_resource_identity::Response {
            upgraded_identity: Some(pb::ResourceIdentityData { identity_data: Some(upgraded.into()) }),
            diagnostics: vec![],
        },
        Err(d) => pb::upgrade_resource_identity::Response { upgraded_identity: None, diagnostics: convert::diagnostics(d) },
    }
}

pub async fn read<P: Provider>(server: &Server<P>, req: pb::read_resource::Request) -> pb::read_resource::Response {
    let read = server.read_resource(&req.type_name, dynamic(req.current_state).as_ref()).await;
    pb::read_resource::Response {
        new_state: read.new_state.map(Into::into),
        new_identity: read.new_identity.map(identity_data),
        private: req.private,
        diagnostics: convert::diagnostics(read.diagnostics),
        ..Default::default()
    }
}

pub async fn plan<P: Provider>(server: &Server<P>, req: pb::plan_resource_change::Request) -> pb::plan_resource_change::Response {
    let (prior, proposed, config) = (dynamic(req.prior_state), dynamic(req.proposed_new_state), dynamic(req.config));
    let planned = server
        .plan_resource_change(PlanRequest {
            type_name: &req.type_name,
            prior_state: prior.as_ref(),
            proposed_new_state: proposed.as_ref(),
            config: config.as_ref(),
            prior_private: req.prior_private,
            prior_identity: req.prior_identity.map(identity),
        })
        .await;
    pb::plan_resource_change::Response {
        planned_state: planned.planned_state.map(Into::into),
        requires_replace: planned.requires_replace.iter().map(convert::attribute_path).collect(),
        planned_private: planned.planned_private,
        diagnostics: convert::diagnostics(planned.diagnostics),
        planned_identity: planned.planned_identity.map(identity_data),
        ..Default::default()
    }
}

pub async fn apply<P: Provider>(server: &Server<P>, req: pb::apply_resource_change::Request) -> pb::apply_resource_change::Response {
    let (prior, planned, config) = (dynamic(req.prior_state), dynamic(req.planned_state), dynamic(req.config));
    let applied = server
        .apply_resource_change(ApplyRequest {
            type_name: &req.type_name,
            prior_state: prior.as_ref(),
            planned_state: planned.as_ref(),
            config: config.as_ref(),
            planned_private: req.planned_private,
        })
        .await;
    pb::apply_resource_change::Response {
        new_state: applied.new_state.map(Into::into),
        private: applied.private,
        diagnostics: convert::diagnostics(applied.diagnostics),
        new_identity: applied.new_identity.map(identity_data),
        ..Default::default()
    }
}

pub async fn import<P: Provider>(server: &Server<P>, req: pb::import_resource_state::Request) -> pb::import_resource_state::Response {
    let identity = req.identity.map(identity);
    match server.import_resource_state(&req.type_name, &req.id, identity.as_ref()).await {
        Ok(imported) => pb::import_resource_state::Response {
            imported_resources: vec![pb::import_resource_state::ImportedResource {
                type_name: req.type_name,
                identity: imported.identity.map(identity_data),
                state: Some(imported.state.into()),
                private: vec![],
            }],
            ..Default::default()
        },
        Err(d) => pb::import_resource_state::Response { diagnostics: convert::diagnostics(d), ..Default::default() },
    }
}

pub fn move_state<P: Provider>(server: &Server<P>, req: pb::move_resource_state::Request) -> pb::move_resource_state::Response {
    let diags = server.move_resource_state(&req.target_type_name, &req.source_provider_address, &req.source_type_name);
    pb::move_resource_state::Response { diagnostics: convert::diagnostics(diags), ..Default::default() }
}

pub fn generate_config<P: Provider>(
    server: &Server<P>,
    req: pb::generate_resource_config::Request,
) -> pb::generate_resource_config::Response {
    match server.generate_resource_config(&req.type_name, dynamic(req.state).as_ref()) {
        Ok(config) => pb::generate_resource_config::Response { config: Some(config.into()), diagnostics: vec![] },
        Err(d) => pb::generate_resource_config::Response { config: None, diagnostics: convert::diagnostics(d) },
    }
}
