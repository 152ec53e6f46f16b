//! Attribute names several resources share, spelled once: the tag pair, `id`, the secret
//! deletion arguments, certificate rotation's state, and the arguments of the list blocks.
//! A resource's own names live in its folder's `model.rs`.

/// Attributes with the same name and meaning in more than one resource.
pub mod attr {
    pub const ID: &str = "id";
    pub const TAGS: &str = "tags";
    pub const TAGS_ALL: &str = "tags_all";
    pub const CLUSTER_ID: &str = "cluster_id";
    /// The Kubernetes service account a Pod Identity association binds (agent and server).
    pub const SERVICE_ACCOUNT: &str = "service_account";
    pub const CLOUDEVENTS_CLIENT_ID: &str = "cloudevents_client_id";
    pub const RECOVERY_WINDOW_IN_DAYS: &str = "recovery_window_in_days";
    pub const FORCE_DELETE_WITHOUT_RECOVERY: &str = "force_delete_without_recovery";
    /// `list` blocks: only objects whose ID starts with this.
    pub const NAME_PREFIX: &str = "name_prefix";
    /// The consumers' list block: each consumer's management account, by consumer ID.
    pub const MANAGEMENT_ACCOUNT_IDS: &str = "management_account_ids";
}

/// The state attributes of certificate rotation, the same in every resource that rotates.
pub mod rotation {
    pub const GRACE_PERIOD_HOURS: &str = "certificate_grace_period_hours";
    pub const PREVIOUS_CERTIFICATES: &str = "previous_certificates";
    /// Inside each `previous_certificates` element.
    pub const CERTIFICATE_ID: &str = "certificate_id";
    pub const CERTIFICATE_ARN: &str = "certificate_arn";
    pub const RETIRE_AFTER: &str = "retire_after";
}
