//! terraform-provider-maestro: wires Maestro servers and agents through AWS IoT Core without
//! private keys in Terraform state.
//!
//! Layers from the wire inwards, each using only the layers listed after it (the protocol layer
//! knows the framework's traits, never a resource; `policy` and `crypto` know no other layer):
//! - [`protocol`]: the go-plugin handshake and the tfplugin6 gRPC server;
//! - [`framework`]: schemas, values, planning, and the traits resources implement;
//! - [`provider`]: provider configuration, AWS clients, error predicates and retries;
//! - [`resources`]: one folder (or file) per resource type, and the AWS finders they share;
//! - [`functions`]: provider-defined functions over [`policy`] (pure);
//! - [`policy`]: pure functions producing names, topics and policy documents;
//! - [`crypto`]: agent key pairs, CSRs and the credential bundles (pure, no I/O).

pub mod crypto;
pub mod framework;
pub mod functions;
pub mod policy;
pub mod protocol;
#[cfg(feature = "aws")]
pub mod provider;
#[cfg(feature = "aws")]
pub mod resources;

#[cfg(feature = "aws")]
/// The provider as the plugin serves it: the provider layer with everything registered in
/// [`resources`] and [`functions`].
pub fn maestro_provider() -> provider::MaestroProvider {
    provider::MaestroProvider::new(provider::Registry {
        resources: resources::all(),
        data_sources: resources::data_sources(),
        ephemeral_resources: resources::ephemeral_resources(),
        functions: functions::all(),
        list_resources: resources::list_resources(),
        actions: resources::actions(),
    })
}
