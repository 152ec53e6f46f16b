//! PlanResourceChange: the schema's planning (defaults, write-only nulled, computed unknown),
//! then the resource's own refinement, then the attributes whose change forces replacement.

use super::{decode, encode, DynamicValue, IdentityData, Server};
use crate::framework::diagnostics::{AttributePath, Diagnostics};
use crate::framework::plan::{plan_from_schema, replacement_paths};
use crate::framework::provider::Provider;
use crate::framework::resource::Plan;

pub struct PlanRequest<'a> {
    pub type_name: &'a str,
    pub prior_state: Option<&'a DynamicValue>,
    pub proposed_new_state: Option<&'a DynamicValue>,
    pub config: Option<&'a DynamicValue>,
    pub prior_private: Vec<u8>,
    pub prior_identity: Option<IdentityData>,
}

#[derive(Debug, Default)]
pub struct Planned {
    pub planned_state: Option<DynamicValue>,
    pub planned_private: Vec<u8>,
    pub planned_identity: Option<IdentityData>,
    pub requires_replace: Vec<AttributePath>,
    pub diagnostics: Diagnostics,
}

impl<P: Provider> Server<P> {
    pub async fn plan_resource_change(&self, req: PlanRequest<'_>) -> Planned {
        self.plan(req).await.unwrap_or_else(|diagnostics| Planned { diagnostics, ..Planned::default() })
    }

    async fn plan(&self, req: PlanRequest<'_>) -> Result<Planned, Diagnostics> {
        let entry = self.resource(req.type_name)?;
        let prior = decode(req.prior_state, &entry.ty)?;
        let proposed = decode(req.proposed_new_state, &entry.ty)?;
        let config = decode(req.config, &entry.ty)?;
        if proposed.is_null() {
            // Destroy: nothing to refine; the prior identity stays as it is.
            return Ok(Planned {
                planned_state: req.proposed_new_state.cloned(),
                planned_private: req.prior_private,
                planned_identity: req.prior_identity,
                ..Planned::default()
            });
        }
        let mut diagnostics = Diagnostics::new();
        let planned = plan_from_schema(&entry.schema, &prior, &config, proposed);
        let mut plan = Plan { prior: &prior, config: &config, planned, requires_replace: Vec::new() };
        let client = self.client().await;
        entry.imp.modify_plan(client.as_deref(), &mut plan, &mut diagnostics).await;
        let planned = plan.planned.conform(&entry.ty);
        let mut requires_replace = replacement_paths(&entry.schema, &prior, &planned);
        requires_replace.extend(plan.requires_replace);
        Ok(Planned {
            planned_identity: self.identity_of(req.type_name, entry, &planned),
            planned_state: Some(encode(&planned, &entry.ty)?),
            requires_replace,
            planned_private: req.prior_private,
            diagnostics,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{configured, dv, value};
    use super::*;
    use crate::framework::value::Value;

    fn create_request<'a>(proposed: &'a Option<DynamicValue>, config: &'a Option<DynamicValue>) -> PlanRequest<'a> {
        PlanRequest {
            type_name: "test_widget",
            prior_state: None,
            proposed_new_state: proposed.as_ref(),
            config: config.as_ref(),
            prior_private: b"private".to_vec(),
            prior_identity: None,
        }
    }

    #[tokio::test]
    async fn create_plans_defaults_unknowns_and_identity_but_never_write_only() {
        let server = configured().await;
        let config = dv(&Value::object([("name", Value::string("w1")), ("password", Value::string("hunter2"))]));
        let planned = server.plan_resource_change(create_request(&config, &config)).await;
        assert!(planned.diagnostics.is_empty(), "{}", planned.diagnostics);
        let state = value(&planned.planned_state);
        assert_eq!(state.get("size"), &Value::string("small"));
        assert!(state.get("arn").is_unknown());
        assert!(state.get("password").is_null(), "write-only never planned");
        assert!(planned.planned_identity.is_some());
        assert_eq!(planned.planned_private, b"private", "private data is carried through the plan");
        assert!(planned.requires_replace.is_empty());
    }

    #[tokio::test]
    async fn a_changed_force_new_attribute_is_a_replacement_path() {
        let server = configured().await;
        let prior = Value::object([("name", Value::string("w1")), ("size", Value::string("small")), ("arn", Value::string("a"))]);
        let mut proposed = prior.clone();
        proposed.set("name", Value::string("w2"));
        let (prior, proposed, config) = (dv(&prior), dv(&proposed), dv(&Value::object([("name", Value::string("w2"))])));
        let planned = server.plan_resource_change(PlanRequest { prior_state: prior.as_ref(), ..create_request(&proposed, &config) }).await;
        assert_eq!(planned.requires_replace, vec![AttributePath::root("name")]);

        let unchanged = server.plan_resource_change(PlanRequest { prior_state: prior.as_ref(), ..create_request(&prior, &prior) }).await;
        assert!(unchanged.requires_replace.is_empty(), "an unchanged name replaces nothing");
    }

    #[tokio::test]
    async fn destroy_plans_pass_the_prior_identity_and_private_data_through() {
        let server = configured().await;
        let prior = dv(&Value::object([("name", Value::string("w1"))]));
        let identity = IdentityData { data: Some(DynamicValue { msgpack: b"as stored".to_vec(), json: vec![] }) };
        let destroy = DynamicValue { msgpack: vec![0xc0], json: vec![] }; // msgpack nil
        let planned = server
            .plan_resource_change(PlanRequest {
                type_name: "test_widget",
                prior_state: prior.as_ref(),
                proposed_new_state: Some(&destroy),
                config: None,
                prior_private: b"private".to_vec(),
                prior_identity: Some(identity.clone()),
            })
            .await;
        assert_eq!(planned.planned_state, Some(destroy), "the proposed null is passed on byte for byte");
        assert_eq!(planned.planned_identity, Some(identity), "the identity is passed on as stored");
        assert_eq!(planned.planned_private, b"private");
        assert!(planned.diagnostics.is_empty() && planned.requires_replace.is_empty());
    }

    #[tokio::test]
    async fn an_unknown_type_is_a_diagnostic_with_nothing_planned() {
        let server = configured().await;
        let planned = server.plan_resource_change(PlanRequest { type_name: "nope", ..create_request(&None, &None) }).await;
        assert!(planned.diagnostics.has_errors());
        assert!(planned.planned_state.is_none() && planned.planned_private.is_empty());
    }
}
