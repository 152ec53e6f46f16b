//! The data source `maestro_agent_binding`: what the resources derive for one agent — names,
//! topics, the MQTT client ID and both IoT policy documents — with no AWS call, defaulting to
//! the provider's account, region and topic prefix (configure it with the regional provider,
//! or give `regional_account_id` and `region`). The same values as
//! `provider::maestro::agent_binding`, with the client ID flag settable.

mod model;
mod schema;

use crate::framework::schema::Schema;
use crate::framework::{AttributePath, DataSource, Diagnostic, Diagnostics, Value};
use crate::functions::binding_value;
use crate::provider::AwsClients;
use async_trait::async_trait;
use model::{attr, set_resolved, Request};

pub struct AgentBindingData;

#[async_trait]
impl DataSource<AwsClients> for AgentBindingData {
    fn type_name(&self) -> &'static str {
        "maestro_agent_binding"
    }

    fn schema(&self) -> Schema {
        schema::schema()
    }

    async fn read(&self, c: &AwsClients, config: &Value) -> Result<Value, Diagnostics> {
        let mut state = config.clone();
        let b = Request::from_value(config).binding(c);
        let value = binding_value(&b)
            .map_err(|e| Diagnostics::from(Diagnostic::error("Invalid agent binding", e).at(AttributePath::root(attr::TOPIC_PREFIX))))?;
        set_resolved(&mut state, &b, value);
        Ok(state)
    }
}
