package main

import "fmt"

// attrKind is the Terraform type of a fixture attribute.
type attrKind int

const (
	kindString attrKind = iota
	kindBool
	kindInt64
	kindStringMap
	kindStringList
)

// attrRole says who sets an attribute: the configuration, the provider, or either.
type attrRole int

const (
	required attrRole = iota
	optional
	computed
	optionalComputed
)

// attrSpec describes one attribute; the schema builders turn it into the framework's types.
type attrSpec struct {
	name      string
	kind      attrKind
	role      attrRole
	forceNew  bool // RequiresReplace plan modifier
	keepState bool // UseStateForUnknown plan modifier
	sensitive bool
}

// description gives every attribute text of the length the Maestro provider's descriptions
// have (about 190 characters), since descriptions are most of a schema's bytes.
func (a attrSpec) description(owner string) string {
	return fmt.Sprintf("The %s of this %s, kept in state as given. A fixture attribute: its description is as long as "+
		"the Maestro provider's, which say what is derived from what and which AWS object holds it.", a.name, owner)
}

func str(name string, role attrRole) attrSpec {
	return attrSpec{name: name, kind: kindString, role: role}
}

func (a attrSpec) replace() attrSpec      { a.forceNew = true; return a }
func (a attrSpec) keep() attrSpec         { a.keepState = true; return a }
func (a attrSpec) secret() attrSpec       { a.sensitive = true; return a }
func (a attrSpec) as(k attrKind) attrSpec { a.kind = k; return a }

// resourceSpecs mirror the four Maestro resources in attribute count and mix: mostly strings,
// a few required and replacing, many computed that keep their state, a tags map and its
// tags_all, a list, numbers and booleans.
var resourceSpecs = []struct {
	name  string
	attrs []attrSpec
}{
	{"agent_identity", []attrSpec{
		str("cluster_id", required).replace(), str("regional_account_id", required), str("eks_cluster_name", required).replace(),
		str("mqtt_cert_secret_name", required), str("certificate_pem", optional), str("broker_endpoint", optional),
		str("namespace", optionalComputed), str("service_account", optionalComputed), str("topic_prefix", optionalComputed),
		str("kms_key_arn", optional), str("cloudevents_client_id", optionalComputed), str("regional_region", optionalComputed),
		str("tags", optional).as(kindStringMap), str("id", computed), str("role_name", computed), str("role_arn", computed).keep(),
		str("association_id", computed).keep(), str("association_arn", computed).keep(), str("secrets_policy", computed),
		str("iot_policy", computed), str("config_secret_name", computed), str("config_secret_arn", computed).keep(),
		str("credential_version", computed).keep(), str("helm_values", computed), str("upstream_helm_values", computed),
		str("client_id", computed), str("source_events_topic", computed), str("agent_events_topic", computed),
		str("wait_for_propagation", optionalComputed).as(kindBool), str("propagation_seconds", optionalComputed).as(kindInt64),
		str("tags_all", computed).as(kindStringMap), str("credential_secret_arn", computed).keep(), str("kms_decrypt", computed).as(kindBool),
	}},
	{"agent_key", []attrSpec{
		str("cluster_id", required).replace(), str("secret_name", optionalComputed).replace(), str("key_algorithm", optionalComputed).replace(),
		str("kms_key_id", optional), str("recovery_window_in_days", optionalComputed).as(kindInt64),
		str("force_delete_without_recovery", optional).as(kindBool), str("rotation_trigger", optional),
		str("tags", optional).as(kindStringMap), str("id", computed), str("secret_arn", computed).keep(), str("csr_pem", computed).keep(),
		str("public_key_fingerprint", computed).keep(), str("pending_csr_pem", computed), str("tags_all", computed).as(kindStringMap),
		str("subject_common_name", optionalComputed), str("staged_version", computed), str("current_version", computed).keep(),
		str("private_key_pem", computed).secret(), str("created_at", computed).keep(), str("rotated_at", computed),
		str("description", optional), str("policy", optional), str("replica_regions", optional).as(kindStringList),
		str("secret_version_stage", computed), str("last_changed_date", computed), str("algorithm", optionalComputed).replace(),
		str("key_version_id", computed).keep(), str("rotate_after", optional), str("rotation_due", computed).as(kindBool),
		str("ca_pem", computed), str("staged_at", computed),
	}},
	{"consumer", []attrSpec{
		str("consumer_id", required).replace(), str("csr_pem", required), str("management_account_id", required),
		str("topic_prefix", optionalComputed), str("cloudevents_client_id", optionalComputed),
		str("certificate_grace_period_hours", optionalComputed).as(kindInt64), str("tags", optional).as(kindStringMap),
		str("id", computed), str("thing_name", computed), str("thing_arn", computed).keep(), str("policy_name", computed),
		str("policy_arn", computed).keep(), str("policy_document", computed), str("client_id", computed),
		str("source_events_topic", computed), str("agent_events_topic", computed), str("endpoint", computed).keep(),
		str("certificate_id", computed).keep(), str("certificate_arn", computed).keep(), str("certificate_pem", computed).keep(),
		str("certificate_fingerprint", computed).keep(), str("certificate_status", computed).keep(),
		str("previous_certificate_ids", computed).as(kindStringList), str("policy_attached", computed).as(kindBool),
		str("tags_all", computed).as(kindStringMap), str("thing_attached", computed).as(kindBool), str("policy_version_id", computed),
		str("certificate_expires", computed), str("certificate_serial", computed),
	}},
	{"server_identity", []attrSpec{
		str("name", required).replace(), str("eks_cluster_name", required).replace(), str("namespace", optionalComputed),
		str("service_account", optionalComputed), str("source_id", optionalComputed), str("client_id_prefix", optionalComputed),
		str("subscription_group", optional), str("topic_prefix", optionalComputed), str("kms_key_id", optional),
		str("certificate_grace_period_hours", optionalComputed).as(kindInt64), str("force_delete_without_recovery", optional).as(kindBool),
		str("tags", optional).as(kindStringMap), str("id", computed), str("certificate_id", computed).keep(),
		str("certificate_arn", computed).keep(), str("certificate_pem", computed).keep(), str("cert_secret_arn", computed).keep(),
		str("config_secret_arn", computed).keep(), str("policy_name", computed), str("policy_arn", computed).keep(),
		str("role_arn", computed).keep(), str("association_id", computed).keep(), str("endpoint", computed).keep(),
		str("helm_values", computed), str("server_flags", computed).as(kindStringList), str("tags_all", computed).as(kindStringMap),
		str("cert_secret_name", computed), str("config_secret_name", computed), str("role_name", computed), str("client_id", computed),
		str("previous_certificate_ids", computed).as(kindStringList),
	}},
}

var dataSourceSpec = []attrSpec{
	str("cluster_id", required), str("regional_account_id", required), str("topic_prefix", optional),
	str("client_id", computed), str("source_events_topic", computed), str("agent_events_topic", computed),
	str("iot_policy", computed),
}

var providerSpec = []attrSpec{
	str("region", optional), str("profile", optional), str("access_key", optional), str("secret_key", optional).secret(),
	str("token", optional).secret(), str("topic_prefix", optional), str("max_retries", optional).as(kindInt64),
	str("skip_credentials_validation", optional).as(kindBool), str("default_tags", optional).as(kindStringMap),
	str("endpoints", optional).as(kindStringMap), str("sts_region", optional), str("shared_config_files", optional).as(kindStringList),
	str("allowed_account_ids", optional).as(kindStringList), str("retry_mode", optional), str("custom_ca_bundle", optional),
}

var assumeRoleSpec = []attrSpec{
	str("role_arn", optional), str("session_name", optional), str("external_id", optional), str("duration_seconds", optional).as(kindInt64),
}
