//! ListResource (`terraform query`): each object's identity and, when asked for, its state in the
//! managed resource's schema (what `query -generate-config-out` writes).

use super::{decode, encode, DynamicValue, Server};
use crate::framework::diagnostics::{Diagnostic, Diagnostics};
use crate::framework::provider::Provider;
use crate::framework::resource::IdentitySchema;

pub struct ListRequest<'a> {
    pub type_name: &'a str,
    pub config: Option<&'a DynamicValue>,
    pub include_resource_object: bool,
    /// Zero or less: no limit.
    pub limit: i64,
}

pub struct ListedObject {
    pub identity: DynamicValue,
    pub display_name: String,
    pub resource_object: Option<DynamicValue>,
    pub diagnostics: Diagnostics,
}

impl<P: Provider> Server<P> {
    pub async fn list_resource(&self, req: ListRequest<'_>) -> Result<Vec<ListedObject>, Diagnostics> {
        let entry = self.list_entry(req.type_name)?;
        let resource = self.resource(req.type_name)?;
        let identity_type = self.identities.get(req.type_name).map(IdentitySchema::value_type).ok_or_else(|| {
            Diagnostics::from(Diagnostic::error("No resource identity", format!("{} has no identity to list by.", req.type_name)))
        })?;
        let config = decode(req.config, &entry.ty)?;
        let client = self.configured_client().await?;
        let limit = usize::try_from(req.limit).ok().filter(|l| *l > 0).unwrap_or(usize::MAX);
        let found = entry.imp.list(&client, &config, req.include_resource_object, limit).await?;
        let mut objects = Vec::with_capacity(found.len());
        for item in found.into_iter().take(limit) {
            let identity = encode(&item.identity.conform(&identity_type), &identity_type)?;
            let resource_object = match item.resource_object.filter(|_| req.include_resource_object) {
                Some(state) => Some(encode(&state.conform(&resource.ty), &resource.ty)?),
                None => None,
            };
            objects.push(ListedObject { identity, display_name: item.display_name, resource_object, diagnostics: item.diagnostics });
        }
        Ok(objects)
    }
}
