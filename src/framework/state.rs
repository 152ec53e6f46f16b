//! Stored state across schema versions (`UpgradeResourceState`): the JSON rewrites a resource's
//! `upgrade_state` applies before the framework reads the state against the current schema.
//! Pure, so the fuzz targets (built without the AWS layers) exercise the same code.

/// Moves attributes renamed in a newer schema version to their new names in a stored state,
/// keeping their values, so existing state reads as if it had been written under the new names.
/// A state already holding the new name keeps it. Anything but a JSON object is returned as is.
pub fn rename_state_attributes(mut state: serde_json::Value, renames: &[(&str, &str)]) -> serde_json::Value {
    if let Some(object) = state.as_object_mut() {
        for (old, new) in renames {
            if let Some(value) = object.remove(*old) {
                object.entry(new.to_string()).or_insert(value);
            }
        }
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renamed_state_attributes_keep_their_values() {
        let old = json!({"account_id": "987654321098", "consumer_id": "mc-1"});
        let upgraded = rename_state_attributes(old, &[("account_id", "management_account_id"), ("absent", "new")]);
        assert_eq!(upgraded, json!({"management_account_id": "987654321098", "consumer_id": "mc-1"}));
        // Both names present (a state written half-way): the new name's value wins.
        let both = json!({"account_id": "1", "management_account_id": "2"});
        assert_eq!(rename_state_attributes(both, &[("account_id", "management_account_id")]), json!({"management_account_id": "2"}));
        // A null state (nothing stored) stays null.
        assert_eq!(rename_state_attributes(serde_json::Value::Null, &[("a", "b")]), serde_json::Value::Null);
    }
}
