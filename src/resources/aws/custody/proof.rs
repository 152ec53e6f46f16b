//! The proof by which a secret is known to be ours, and the vouch by which a key in it is
//! known to be the workload's: HMACs in the version IDs of what the provider writes (see the
//! module above).

use super::super::secretsmanager::calls::{self as secrets, SecretInfo};
use crate::crypto::{CredentialBundle, SecretString};
use crate::framework::Diagnostics;
use crate::provider::AwsClients;

/// Domain separation, so a proof can never equal a token made for another purpose, and a
/// version vouched for by a key never equals that key's own proof.
const PROOF_CONTEXT: &[u8] = b"terraform-provider-maestro custody proof v1";
const VOUCH_CONTEXT: &[u8] = b"terraform-provider-maestro custody vouch v1";

/// The version ID (a `ClientRequestToken`) that proves `bundle` was written by this provider
/// into `secret_name` for `owner` (the agent's cluster ID, the server's name): an HMAC keyed
/// with the bundle's own private key. UUID-shaped, as Secrets Manager wants 32 to 64
/// characters. It depends on every byte written, so a retry of the same write finds its own
/// version and nothing else can reuse the token.
///
/// Whoever chooses a key can make this proof for it, so it proves only that a secret is a
/// container this provider may write to (after [`check`]), never that a key in it may be
/// taken as the workload's: that takes [`vouched_token`].
pub fn proof_token(bundle: &CredentialBundle, secret_name: &str, owner: &str) -> String {
    keyed_token(PROOF_CONTEXT, bundle.private_key.expose(), bundle, secret_name, owner)
}

/// The version ID of `bundle` when it is written while `voucher`, the key state records for
/// the resource, is in the secret: an HMAC keyed with that key. Only a reader of the secret
/// can make it, and a reader of a key-bearing secret holds its key already; so a key staged
/// with this token (a rotation, the rotate action) may be taken as the workload's next key.
pub fn vouched_token(voucher: &SecretString, bundle: &CredentialBundle, secret_name: &str, owner: &str) -> String {
    keyed_token(VOUCH_CONTEXT, voucher.expose(), bundle, secret_name, owner)
}

fn keyed_token(context: &[u8], key_pem: &str, bundle: &CredentialBundle, secret_name: &str, owner: &str) -> String {
    use aws_lc_rs::hmac;
    let key = hmac::Key::new(hmac::HMAC_SHA256, key_pem.as_bytes());
    let mut ctx = hmac::Context::with_key(&key);
    for part in [
        context,
        secret_name.as_bytes(),
        owner.as_bytes(),
        bundle.private_key.expose().as_bytes(),
        bundle.certificate.as_deref().unwrap_or_default().as_bytes(),
        bundle.ca_cert.as_deref().unwrap_or_default().as_bytes(),
    ] {
        // Length-prefixed, so no two different splits of the same bytes collide.
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part);
    }
    let tag = ctx.sign();
    let h: String = tag.as_ref()[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// Whether version `version_id`, holding `value`, carries the proof for `secret_name` and
/// `owner`. A value that is not one of our bundles proves nothing.
pub fn proves(version_id: &str, value: &str, secret_name: &str, owner: &str) -> bool {
    CredentialBundle::parse(value).is_ok_and(|bundle| proof_token(&bundle, secret_name, owner).eq_ignore_ascii_case(version_id))
}

/// Whether version `version_id`, holding `value`, was vouched for by `voucher`.
pub fn vouches(voucher: &SecretString, version_id: &str, value: &str, secret_name: &str, owner: &str) -> bool {
    CredentialBundle::parse(value).is_ok_and(|bundle| vouched_token(voucher, &bundle, secret_name, owner).eq_ignore_ascii_case(version_id))
}

/// Whether any version of the secret `info` describes carries the proof for `owner`. Reads at
/// most one value per version that has a staging label (the unlabelled ones are history that
/// Secrets Manager may drop at any time).
pub async fn proven_for(c: &AwsClients, info: &SecretInfo, owner: &str) -> Result<bool, Diagnostics> {
    for (version, stages) in &info.versions {
        if stages.is_empty() {
            continue;
        }
        if let Some(value) = secrets::get_version(c, &info.arn, version).await? {
            if proves(version, value.expose(), &info.name, owner) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// The private key the resource's state records (by its public key `fingerprint`), read from
/// the labelled version of the secret that holds it, current first. `None` when no version
/// holds it: then nothing in the secret can be vouched for.
pub async fn voucher(c: &AwsClients, info: &SecretInfo, fingerprint: &str) -> Result<Option<SecretString>, Diagnostics> {
    let mut labelled: Vec<(&String, &Vec<String>)> = info.versions.iter().filter(|(_, stages)| !stages.is_empty()).collect();
    labelled.sort_by_key(|(_, stages)| !stages.iter().any(|s| s == secrets::AWSCURRENT));
    for (version, _) in labelled {
        let Some(value) = secrets::get_version(c, &info.arn, version).await? else { continue };
        let Ok(bundle) = CredentialBundle::parse(value.expose()) else { continue };
        let Ok(key) = crate::crypto::keys::GeneratedKey::from_pkcs8_pem(bundle.private_key.expose()) else { continue };
        if key.fingerprint() == fingerprint {
            return Ok(Some(bundle.private_key));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::keys::{self, KeyAlgorithm};
    use crate::crypto::AMAZON_ROOT_CA_1;

    fn bundle() -> CredentialBundle {
        let key = keys::generate(KeyAlgorithm::EcdsaP256).unwrap();
        CredentialBundle::key_only(SecretString::new(key.private_key_pem().expose().to_string()), AMAZON_ROOT_CA_1)
    }

    #[test]
    fn the_proof_binds_the_key_the_secret_the_owner_and_the_bundle() {
        let b = bundle();
        let token = proof_token(&b, "mc-1/maestro/agent-mqtt-cert", "mc-1");
        assert_eq!(token.len(), 36);
        assert_eq!(token.matches('-').count(), 4);
        let json = b.to_secret_string();
        assert!(proves(&token, json.expose(), "mc-1/maestro/agent-mqtt-cert", "mc-1"));
        assert!(proves(&token.to_uppercase(), json.expose(), "mc-1/maestro/agent-mqtt-cert", "mc-1"));
        // Another owner, another secret, another key, another bundle: no proof.
        assert!(!proves(&token, json.expose(), "mc-1/maestro/agent-mqtt-cert", "mc-2"));
        assert!(!proves(&token, json.expose(), "maestro/agent-cert", "mc-1"));
        assert!(!proves(&token, bundle().to_secret_string().expose(), "mc-1/maestro/agent-mqtt-cert", "mc-1"));
        let with_cert = CredentialBundle { certificate: Some("CERT".into()), ..CredentialBundle::parse(json.expose()).unwrap() };
        assert_ne!(proof_token(&with_cert, "mc-1/maestro/agent-mqtt-cert", "mc-1"), token);
        // Not a bundle at all.
        assert!(!proves(&token, "{}", "mc-1/maestro/agent-mqtt-cert", "mc-1"));
        // The separators keep ("ab", "c") and ("a", "bc") apart.
        assert_ne!(proof_token(&b, "ab", "c"), proof_token(&b, "a", "bc"));
    }

    #[test]
    fn only_the_recorded_key_can_vouch_for_a_staged_key() {
        let (current, staged) = (bundle(), bundle());
        let voucher = SecretString::new(current.private_key.expose().to_string());
        let token = vouched_token(&voucher, &staged, "s", "mc-1");
        let json = staged.to_secret_string();
        assert!(vouches(&voucher, &token, json.expose(), "s", "mc-1"));
        // Its own proof is not a vouch, nor the other way round: a planter who picks the key
        // can make the first, never the second.
        assert!(!vouches(&voucher, &proof_token(&staged, "s", "mc-1"), json.expose(), "s", "mc-1"));
        assert!(!proves(&token, json.expose(), "s", "mc-1"));
        let planter = SecretString::new(bundle().private_key.expose().to_string());
        assert!(!vouches(&planter, &token, json.expose(), "s", "mc-1"));
        assert!(!vouches(&voucher, &token, json.expose(), "s", "mc-2"));
        // A key vouching for itself still differs from its own proof.
        assert_ne!(
            vouched_token(&SecretString::new(staged.private_key.expose().to_string()), &staged, "s", "mc-1"),
            proof_token(&staged, "s", "mc-1")
        );
    }
}
