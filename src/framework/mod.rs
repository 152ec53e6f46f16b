//! The layer resources are written in: schemas, values, diagnostics, planning and the traits a
//! provider implements. It knows nothing of gRPC (see `protocol`) nor of AWS (see `provider`).

pub mod cancel;
pub mod diagnostics;
pub mod msgpack;
pub mod plan;
pub mod provider;
pub mod resource;
pub mod schema;
pub mod server;
pub mod state;
pub mod validators;
pub mod value;

pub use diagnostics::{AttributePath, Diagnostic, Diagnostics};
pub use resource::{Action, Applied, DataSource, EphemeralResource, Function, ListResource, Listed, Plan, Resource};
pub use schema::{Attribute, Block, NestedBlock, Nesting, Schema};
pub use value::{Type, Value};
