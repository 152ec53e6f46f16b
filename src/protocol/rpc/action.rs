//! ValidateActionConfig, PlanAction and InvokeAction (a stream of progress events closed by
//! the completion with its diagnostics).

use crate::framework::provider::Provider;
use crate::framework::server::action::ActionEvent;
use crate::framework::server::Server;
use crate::protocol::convert::{self, dynamic};
use crate::protocol::generated::tfplugin6 as pb;
use futures::{Stream, StreamExt};

pub fn validate<P: Provider>(server: &Server<P>, req: pb::validate_action_config::Request) -> pb::validate_action_config::Response {
    let diags = server.validate_action_config(&req.type_name, dynamic(req.config).as_ref());
    pb::validate_action_config::Response { diagnostics: convert::diagnostics(diags) }
}

/// Actions change nothing Terraform plans; the plan only checks the configuration.
pub fn plan<P: Provider>(server: &Server<P>, req: pb::plan_action::Request) -> pb::plan_action::Response {
    let diags = server.validate_action_config(&req.action_type, dynamic(req.config).as_ref());
    pb::plan_action::Response { diagnostics: convert::diagnostics(diags), deferred: None }
}

pub async fn invoke<P: Provider>(server: &Server<P>, req: pb::invoke_action::Request) -> impl Stream<Item = pb::invoke_action::Event> {
    use pb::invoke_action::event::{Completed, Progress, Type as Kind};
    let events = server.invoke_action(&req.action_type, dynamic(req.config).as_ref()).await;
    events.map(|event| pb::invoke_action::Event {
        r#type: Some(match event {
            ActionEvent::Progress(message) => Kind::Progress(Progress { message }),
            ActionEvent::Completed(d) => Kind::Completed(Completed { diagnostics: convert::diagnostics(d) }),
        }),
    })
}
