//! Lookups and deletes of the AWS objects the resources manage, once per object and service,
//! in the style of terraform-provider-aws's finders: `find_<object>` answers `Ok(None)` when
//! the object does not exist, and `delete_<object>` treats "already gone" as done. Every
//! resource that touches an object goes through these, so "not found" is decided in one place.

pub mod custody;
pub mod eks;
pub mod iam;
pub mod iot;
pub mod kms;
pub mod secretsmanager;
