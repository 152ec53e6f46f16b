//! The `tfplugin6.Provider` gRPC service: each RPC handed to its translation room in [`rpc`],
//! which decodes the request, calls the framework's [`Server`] (where the protocol's rules
//! live) and encodes the answer. Failures are diagnostics in the response (for the streaming
//! RPCs, in their events), never gRPC errors.

use super::generated::tfplugin6 as pb;
use super::rpc;
use crate::framework::provider::Provider;
use crate::framework::server::Server;
use futures::StreamExt;
use tonic::{Request, Response, Status};

pub struct ProviderService<P: Provider> {
    server: Server<P>,
}

impl<P: Provider> ProviderService<P> {
    pub fn new(provider: P) -> Self {
        ProviderService { server: Server::new(provider) }
    }
}

type Stream<T> = std::pin::Pin<Box<dyn futures::Stream<Item = Result<T, Status>> + Send + 'static>>;
type Answer<T> = Result<Response<T>, Status>;

fn answer<T>(response: T) -> Answer<T> {
    Ok(Response::new(response))
}

#[tonic::async_trait]
impl<P: Provider> pb::provider_server::Provider for ProviderService<P> {
    async fn get_metadata(&self, _: Request<pb::get_metadata::Request>) -> Answer<pb::get_metadata::Response> {
        answer(rpc::provider::metadata(&self.server))
    }

    async fn get_provider_schema(&self, _: Request<pb::get_provider_schema::Request>) -> Answer<pb::get_provider_schema::Response> {
        answer(rpc::provider::schema(&self.server))
    }

    async fn get_resource_identity_schemas(
        &self,
        _: Request<pb::get_resource_identity_schemas::Request>,
    ) -> Answer<pb::get_resource_identity_schemas::Response> {
        answer(rpc::provider::identity_schemas(&self.server))
    }

    async fn validate_provider_config(
        &self,
        req: Request<pb::validate_provider_config::Request>,
    ) -> Answer<pb::validate_provider_config::Response> {
        answer(rpc::provider::validate(&self.server, req.into_inner()))
    }

    async fn validate_resource_config(
        &self,
        req: Request<pb::validate_resource_config::Request>,
    ) -> Answer<pb::validate_resource_config::Response> {
        answer(rpc::resource::validate(&self.server, req.into_inner()))
    }

    async fn validate_data_resource_config(
        &self,
        req: Request<pb::validate_data_resource_config::Request>,
    ) -> Answer<pb::validate_data_resource_config::Response> {
        answer(rpc::data_source::validate(&self.server, req.into_inner()))
    }

    async fn validate_ephemeral_resource_config(
        &self,
        req: Request<pb::validate_ephemeral_resource_config::Request>,
    ) -> Answer<pb::validate_ephemeral_resource_config::Response> {
        answer(rpc::ephemeral::validate(&self.server, req.into_inner()))
    }

    async fn validate_list_resource_config(
        &self,
        req: Request<pb::validate_list_resource_config::Request>,
    ) -> Answer<pb::validate_list_resource_config::Response> {
        answer(rpc::list::validate(&self.server, req.into_inner()))
    }

    async fn validate_action_config(
        &self,
        req: Request<pb::validate_action_config::Request>,
    ) -> Answer<pb::validate_action_config::Response> {
        answer(rpc::action::validate(&self.server, req.into_inner()))
    }

    async fn upgrade_resource_state(
        &self,
        req: Request<pb::upgrade_resource_state::Request>,
    ) -> Answer<pb::upgrade_resource_state::Response> {
        answer(rpc::resource::upgrade_state(&self.server, req.into_inner()))
    }

    async fn upgrade_resource_identity(
        &self,
        req: Request<pb::upgrade_resource_identity::Request>,
    ) -> Answer<pb::upgrade_resource_identity::Response> {
        answer(rpc::resource::upgrade_identity(&self.server, req.into_inner()))
    }

    async fn configure_provider(&self, req: Request<pb::configure_provider::Request>) -> Answer<pb::configure_provider::Response> {
        answer(rpc::provider::configure(&self.server, req.into_inner()).await)
    }

    async fn read_resource(&self, req: Request<pb::read_resource::Request>) -> Answer<pb::read_resource::Response> {
        answer(rpc::resource::read(&self.server, req.into_inner()).await)
    }

    async fn plan_resource_change(&self, req: Request<pb::plan_resource_change::Request>) -> Answer<pb::plan_resource_change::Response> {
        answer(rpc::resource::plan(&self.server, req.into_inner()).await)
    }

    async fn apply_resource_change(&self, req: Request<pb::apply_resource_change::Request>) -> Answer<pb::apply_resource_change::Response> {
        answer(rpc::resource::apply(&self.server, req.into_inner()).await)
    }

    async fn import_resource_state(&self, req: Request<pb::import_resource_state::Request>) -> Answer<pb::import_resource_state::Response> {
        answer(rpc::resource::import(&self.server, req.into_inner()).await)
    }

    async fn move_resource_state(&self, req: Request<pb::move_resource_state::Request>) -> Answer<pb::move_resource_state::Response> {
        answer(rpc::resource::move_state(&self.server, req.into_inner()))
    }

    async fn generate_resource_config(
        &self,
        req: Request<pb::generate_resource_config::Request>,
    ) -> Answer<pb::generate_resource_config::Response> {
        answer(rpc::resource::generate_config(&self.server, req.into_inner()))
    }

    async fn read_data_source(&self, req: Request<pb::read_data_source::Request>) -> Answer<pb::read_data_source::Response> {
        answer(rpc::data_source::read(&self.server, req.into_inner()).await)
    }

    async fn open_ephemeral_resource(
        &self,
        req: Request<pb::open_ephemeral_resource::Request>,
    ) -> Answer<pb::open_ephemeral_resource::Response> {
        answer(rpc::ephemeral::open(&self.server, req.into_inner()).await)
    }

    async fn renew_ephemeral_resource(
        &self,
        req: Request<pb::renew_ephemeral_resource::Request>,
    ) -> Answer<pb::renew_ephemeral_resource::Response> {
        answer(rpc::ephemeral::renew(&self.server, req.into_inner()).await)
    }

    async fn close_ephemeral_resource(
        &self,
        req: Request<pb::close_ephemeral_resource::Request>,
    ) -> Answer<pb::close_ephemeral_resource::Response> {
        answer(rpc::ephemeral::close(&self.server, req.into_inner()).await)
    }

    type ListResourceStream = Stream<pb::list_resource::Event>;

    async fn list_resource(&self, req: Request<pb::list_resource::Request>) -> Answer<Self::ListResourceStream> {
        let events = rpc::list::list(&self.server, req.into_inner()).await;
        answer(Box::pin(futures::stream::iter(events.into_iter().map(Ok))))
    }

    async fn get_functions(&self, _: Request<pb::get_functions::Request>) -> Answer<pb::get_functions::Response> {
        answer(rpc::function::functions(&self.server))
    }

    async fn call_function(&self, req: Request<pb::call_function::Request>) -> Answer<pb::call_function::Response> {
        answer(rpc::function::call(&self.server, req.into_inner()))
    }

    async fn plan_action(&self, req: Request<pb::plan_action::Request>) -> Answer<pb::plan_action::Response> {
        answer(rpc::action::plan(&self.server, req.into_inner()))
    }

    type InvokeActionStream = Stream<pb::invoke_action::Event>;

    async fn invoke_action(&self, req: Request<pb::invoke_action::Request>) -> Answer<Self::InvokeActionStream> {
        let events = rpc::action::invoke(&self.server, req.into_inner()).await;
        answer(Box::pin(events.map(Ok)))
    }

    async fn stop_provider(&self, _: Request<pb::stop_provider::Request>) -> Answer<pb::stop_provider::Response> {
        answer(rpc::provider::stop(&self.server))
    }
}

#[cfg(test)]
mod tests {
    //! The service through the real protobuf messages: requests reach the framework's server and
    //! its answers (paths, identities, diagnostics) come back in the protocol's shape. The rules
    //! themselves are tested in `framework::server`.
    use super::*;
    use crate::framework::diagnostics::AttributePath;
    use crate::framework::server::testing::{widget_schema, TestProvider};
    use crate::framework::server::{decode, encode};
    use crate::framework::value::Value;
    use crate::protocol::convert;
    use pb::provider_server::Provider as _;

    async fn service() -> ProviderService<TestProvider> {
        let svc = ProviderService::new(TestProvider);
        let configured = svc.configure_provider(Request::new(pb::configure_provider::Request::default())).await.unwrap();
        assert!(configured.into_inner().diagnostics.is_empty());
        svc
    }

    fn dv(v: &Value) -> Option<pb::DynamicValue> {
        let ty = widget_schema().value_type();
        Some(encode(&v.clone().conform(&ty), &ty).unwrap().into())
    }

    fn value(d: &Option<pb::DynamicValue>) -> Value {
        decode(convert::dynamic(d.clone()).as_ref(), &widget_schema().value_type()).unwrap()
    }

    #[tokio::test]
    async fn plan_create_apply_then_replace_through_protobuf() {
        let svc = service().await;
        let config = Value::object([("name", Value::string("w1")), ("password", Value::string("hunter2"))]);
        let resp = svc
            .plan_resource_change(Request::new(pb::plan_resource_change::Request {
                type_name: "test_widget".into(),
                prior_state: dv(&Value::Null),
                proposed_new_state: dv(&config),
                config: dv(&config),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        assert!(value(&resp.planned_state).get("arn").is_unknown());
        assert!(resp.planned_identity.is_some_and(|i| i.identity_data.is_some()));

        let applied = svc
            .apply_resource_change(Request::new(pb::apply_resource_change::Request {
                type_name: "test_widget".into(),
                prior_state: dv(&Value::Null),
                planned_state: resp.planned_state.clone(),
                config: dv(&config),
                planned_private: b"kept".to_vec(),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        assert!(applied.diagnostics.is_empty(), "{:?}", applied.diagnostics);
        assert_eq!(applied.private, b"kept");
        let state = value(&applied.new_state);
        assert_eq!(state.get("arn"), &Value::string("arn:test:w1"));
        assert!(state.get("password").is_null(), "write-only never stored");

        let renamed = Value::object([("name", Value::string("w2"))]);
        let mut proposed = state.clone();
        proposed.set("name", Value::string("w2"));
        let replan = svc
            .plan_resource_change(Request::new(pb::plan_resource_change::Request {
                type_name: "test_widget".into(),
                prior_state: dv(&state),
                proposed_new_state: dv(&proposed),
                config: dv(&renamed),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(replan.requires_replace, vec![convert::attribute_path(&AttributePath::root("name"))]);
    }

    #[tokio::test]
    async fn unknown_types_are_diagnostics_not_transport_errors() {
        let svc = service().await;
        let resp = svc
            .validate_resource_config(Request::new(pb::validate_resource_config::Request {
                type_name: "nope".into(),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        assert!(resp.diagnostics[0].summary.contains("Unknown resource type"));
        let called = svc
            .call_function(Request::new(pb::call_function::Request { name: "nope".into(), arguments: vec![] }))
            .await
            .unwrap()
            .into_inner();
        assert!(called.error.is_some_and(|e| e.text.contains("no function")));
    }

    #[tokio::test]
    async fn upgrade_failures_come_back_as_diagnostics() {
        let svc = service().await;
        let raw = pb::RawState { json: b"{}".to_vec(), flatmap: Default::default() };
        let resp = svc
            .upgrade_resource_state(Request::new(pb::upgrade_resource_state::Request {
                type_name: "test_widget".into(),
                version: 7,
                raw_state: Some(raw),
            }))
            .await
            .unwrap()
            .into_inner();
        assert!(resp.upgraded_state.is_none());
        assert!(resp.diagnostics[0].detail.contains("version 7"));
    }
}
