//! List resources (`list "<type>" "<name>" { config { ... } }`, `terraform query`): each finds
//! the objects of one managed resource type by the names this provider and the old hand-written
//! modules give them, and reads each through the resource's own `import`, so
//! `-generate-config-out` writes what an import would record.

use crate::framework::schema::{Attribute, Block, Schema};
use crate::framework::{Diagnostics, ListResource, Listed, Resource, Value};
use crate::provider::AwsClients;
use crate::resources::aws::{iam, iot};
use crate::resources::common::opt_text;
use crate::resources::model::attr;
use async_trait::async_trait;
use std::sync::Arc;

/// Where the names of a resource type's objects come from.
#[derive(Clone, Copy)]
pub enum Source {
    /// IoT policies named `<id><suffix>`.
    IotPolicies(&'static str),
    /// IAM roles named `<id><suffix>`.
    IamRoles(&'static str),
}

/// A further argument of the list block, and how it turns an ID into the import ID.
pub struct ImportHint {
    pub attribute: Attribute,
    pub import_id: fn(config: &Value, id: &str) -> String,
}

pub struct Listing {
    resource: Arc<dyn Resource<AwsClients>>,
    source: Source,
    /// The identity attribute (and import ID) the names give.
    id_attribute: &'static str,
    hint: Option<ImportHint>,
}

impl Listing {
    pub fn new(resource: Arc<dyn Resource<AwsClients>>, source: Source) -> Listing {
        let id_attribute = resource.identity_attribute().map(|(name, _)| name).unwrap_or(attr::ID);
        Listing { resource, source, id_attribute, hint: None }
    }

    pub fn with_hint(self, hint: ImportHint) -> Listing {
        Listing { hint: Some(hint), ..self }
    }

    async fn ids(&self, c: &AwsClients, prefix: &str) -> Result<Vec<String>, Diagnostics> {
        let (names, suffix) = match self.source {
            Source::IotPolicies(suffix) => (iot::list_policy_names(c).await?, suffix),
            Source::IamRoles(suffix) => (iam::list_role_names(c).await?, suffix),
        };
        Ok(ids_of(&names, suffix, prefix))
    }
}

/// The IDs in `names` that end with `suffix` and start with `prefix`, sorted and unique.
fn ids_of(names: &[String], suffix: &str, prefix: &str) -> Vec<String> {
    let mut ids: Vec<String> = names
        .iter()
        .filter_map(|n| n.strip_suffix(suffix))
        .filter(|id| !id.is_empty() && id.starts_with(prefix))
        .map(str::to_string)
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

#[async_trait]
impl ListResource<AwsClients> for Listing {
    fn type_name(&self) -> &'static str {
        self.resource.type_name()
    }

    fn schema(&self) -> Schema {
        let block = Block::new(&format!(
            "Finds the account's {} objects by name, including those the hand-written modules made.",
            self.resource.type_name()
        ))
        .attribute(Attribute::string(attr::NAME_PREFIX).optional().description("Only objects whose ID starts with this."));
        Schema::new(match &self.hint {
            Some(hint) => block.attribute(hint.attribute.clone()),
            None => block,
        })
    }

    async fn list(&self, c: &AwsClients, config: &Value, include_resource_object: bool, limit: usize) -> Result<Vec<Listed>, Diagnostics> {
        let prefix = opt_text(config, attr::NAME_PREFIX).unwrap_or_default();
        let mut listed = Vec::new();
        for id in self.ids(c, &prefix).await?.into_iter().take(limit) {
            let (resource_object, diagnostics) = if include_resource_object {
                let import_id = self.hint.as_ref().map(|h| (h.import_id)(config, &id)).unwrap_or_else(|| id.clone());
                match self.resource.import(c, &import_id).await {
                    Ok(state) => (Some(state), Diagnostics::new()),
                    Err(d) => (None, d),
                }
            } else {
                (None, Diagnostics::new())
            };
            listed.push(Listed {
                identity: Value::object([(self.id_attribute, Value::string(&id))]),
                display_name: id,
                resource_object,
                diagnostics,
            });
        }
        Ok(listed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_from_the_names_with_our_suffix() {
        let names: Vec<String> =
            ["mc-1-maestro-agent-policy", "mc-2-maestro-agent-policy", "other", "-maestro-agent-policy", "r-maestro-server-policy"]
                .map(String::from)
                .to_vec();
        assert_eq!(ids_of(&names, "-maestro-agent-policy", ""), vec!["mc-1", "mc-2"]);
        assert_eq!(ids_of(&names, "-maestro-agent-policy", "mc-2"), vec!["mc-2"]);
        assert_eq!(ids_of(&names, "-maestro-server-policy", ""), vec!["r"]);
    }
}
