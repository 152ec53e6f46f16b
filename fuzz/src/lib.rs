//! Fuzz targets: one function per target, each taking the fuzzer's bytes and asserting what the
//! code under test promises, so that a broken promise is a crash the fuzzer reports.
//!
//! This is the fuzz crate's library, outside the provider's: the libFuzzer binaries in
//! `fuzz/fuzz_targets/` only call these (`scripts/fuzz` runs them), and the provider crate's
//! `tests/fuzz_corpora.rs` includes this file as a module, so every `cargo test` runs the tests
//! below: every target over its seed corpus in `fuzz/corpus/<target>/` plus deterministic
//! mutations of it. It reaches the provider only through its public API, and only the layers
//! that build without the AWS SDK (framework, policy, crypto); the tests may use more.
//!
//! Typed inputs start with a *type prefix* ([`read_type`]) that picks the Terraform type the
//! rest of the input is read as, so the fuzzer explores types and values together.

use serde_json::Value as Json;
use std::collections::BTreeMap;
use terraform_provider_maestro::crypto::keys;
use terraform_provider_maestro::framework::msgpack;
use terraform_provider_maestro::framework::state::rename_state_attributes;
use terraform_provider_maestro::framework::value::{Type, Value};
use terraform_provider_maestro::policy::document;

/// The renames the resources' `upgrade_state` applies to version-0 state (the consumer's and
/// the agent identity's); a test under `aws` holds the two lists together.
pub const STATE_RENAMES: [(&str, &[(&str, &str)]); 2] =
    [("maestro_consumer", &[("account_id", "management_account_id")]), ("maestro_agent_identity", &[("region", "broker_region")])];

/// msgpack codec: whatever decodes is a value of the type, re-encodes, decodes back to itself,
/// re-encodes to the same bytes, stops decoding when cut short, and (when wholly known) reads
/// the same through the JSON codec.
pub fn msgpack_value(data: &[u8]) {
    let mut choices = Choices::new(data);
    let ty = read_type(&mut choices, 0);
    let bytes = choices.rest();
    let Ok(value) = msgpack::decode(bytes, &ty) else { return };
    assert!(conforms(&value, &ty), "decoded {value:?}, which is not a {ty:?}");
    let encoded = msgpack::encode(&value, &ty).unwrap_or_else(|e| panic!("decoded {value:?} as {ty:?} but cannot re-encode it: {e}"));
    let again = msgpack::decode(&encoded, &ty).unwrap_or_else(|e| panic!("our own encoding of {value:?} does not decode: {e}"));
    assert_eq!(again, value, "msgpack round trip of {ty:?}");
    assert_eq!(msgpack::encode(&again, &ty).ok().as_deref(), Some(&encoded[..]), "re-encoding {value:?} changed the bytes");
    assert!(msgpack::decode(&encoded[..encoded.len() - 1], &ty).is_err(), "a value cut short by a byte still decoded");
    if value.is_wholly_known() {
        assert_json_agrees(&value, &ty);
    }
}

/// JSON codec (state, and `DynamicValue.json`): what `Value::from_json` accepts is a wholly known
/// value of the type, reads back the same through `to_json` (as a tree and as text) and through
/// msgpack; and the type's own JSON form (schemas, dynamic values) round-trips.
pub fn json_value(data: &[u8]) {
    let mut choices = Choices::new(data);
    let ty = read_type(&mut choices, 0);
    assert_eq!(Type::from_json(&ty.to_json()).as_ref(), Ok(&ty), "type JSON round trip");
    let Ok(json) = serde_json::from_slice::<Json>(choices.rest()) else { return };
    if let Ok(parsed) = Type::from_json(&json) {
        assert_eq!(Type::from_json(&parsed.to_json()).as_ref(), Ok(&parsed), "type read from {json} does not round-trip");
    }
    let Ok(value) = Value::from_json(&json, &ty) else { return };
    assert!(conforms(&value, &ty), "from_json gave {value:?}, which is not a {ty:?}");
    assert!(value.is_wholly_known(), "JSON has no unknowns, yet from_json made one: {value:?}");
    assert_json_agrees(&value, &ty);
    assert_msgpack_round_trips(&value, &ty);
}

/// `UpgradeResourceState` as far as it is pure: stored JSON, the renames of version 0, then the
/// value read against the current schema type and encoded for Terraform. Renames move values
/// and touch nothing else, a second upgrade changes nothing, a renamed value survives into the
/// value returned, and whatever reads against the schema encodes and decodes to itself.
pub fn state_upgrade(data: &[u8]) {
    let mut choices = Choices::new(data);
    let (_, renames) = STATE_RENAMES[usize::from(choices.byte()) % STATE_RENAMES.len()];
    let attributes = read_attributes(&mut choices, 1);
    let Ok(stored) = serde_json::from_slice::<Json>(choices.rest()) else { return };
    let upgraded = rename_state_attributes(stored.clone(), renames);
    assert_renamed(&stored, &upgraded, renames);
    assert_eq!(rename_state_attributes(upgraded.clone(), renames), upgraded, "a second upgrade changed the state");

    let ty = Type::Object(attributes);
    let Ok(value) = Value::from_json(&upgraded, &ty) else { return };
    assert!(conforms(&value, &ty), "upgraded state {value:?} is not a {ty:?}");
    assert!(value.is_wholly_known(), "stored state cannot hold unknowns: {value:?}");
    let Type::Object(attributes) = &ty else { unreachable!() };
    for (old, new) in renames {
        if let (Some(attr_ty), Some(old_json), None) = (attributes.get(*new), stored.get(*old), stored.get(*new)) {
            let expected = Value::from_json(old_json, attr_ty).expect("the whole state converted, so this attribute does");
            assert_eq!(value.get(new), &expected, "{old} renamed to {new} lost its value");
        }
    }
    assert_msgpack_round_trips(&value, &ty);
}

/// CSR inspection. The first byte picks the input's form: even, the rest is PEM text; odd, the
/// rest is DER that is wrapped in PEM here (so the fuzzer mutates the structure, not base64).
/// Nothing panics; a CSR that is accepted reports a key that is really in it, of the algorithm
/// reported, reads the same when re-encoded in another PEM layout after an unrelated block, and
/// is refused once its public key or its name is altered.
pub fn csr_inspection(data: &[u8]) {
    let Some((&form, rest)) = data.split_first() else { return };
    let pem = if form % 2 == 0 { String::from_utf8_lossy(rest).into_owned() } else { pem_text("CERTIFICATE REQUEST", rest, 64) };
    let inspected = keys::inspect_csr(&pem);
    let unchecked_spki = keys::csr_public_key_spki(&pem);
    let Ok(info) = inspected else { return };
    assert_eq!(unchecked_spki.as_ref(), Ok(&info.spki_der), "csr_public_key_spki disagrees with inspect_csr");
    assert_eq!(keys::spki_algorithm(&info.spki_der), Some(info.algorithm));
    let fingerprint = info.fingerprint();
    assert!(fingerprint.len() == 64 && fingerprint.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{fingerprint}");

    let der = first_csr_der(&pem).expect("inspect_csr accepted it, so it has a CERTIFICATE REQUEST block");
    let key_at = find(&der, &info.spki_der).expect("the reported key is the CSR's own");
    let rewrapped =
        format!("subject=CN=example\n{}{}", pem_text("CERTIFICATE", &[0x30, 0x00], 76), pem_text("CERTIFICATE REQUEST", &der, 76));
    assert_eq!(keys::inspect_csr(&rewrapped).as_ref(), Ok(&info), "the same DER in another PEM layout reads differently");

    // The key's last byte and the name's last byte lie inside the signed request info, so
    // changing either must make the signature (or the parse) fail.
    let mut other_key = der.clone();
    other_key[key_at + info.spki_der.len() - 1] ^= 0x01;
    assert!(keys::inspect_csr(&pem_text("CERTIFICATE REQUEST", &other_key, 64)).is_err(), "a CSR with an altered public key was accepted");
    if let Some(name) = info.common_name.as_deref().filter(|n| !n.is_empty()) {
        let oid_at = find(&der, &[0x06, 0x03, 0x55, 0x04, 0x03]).expect("a common name has its OID");
        let name_at = oid_at + find(&der[oid_at..], name.as_bytes()).expect("the reported name is in the CSR");
        let mut other_name = der.clone();
        other_name[name_at + name.len() - 1] ^= 0x01;
        assert!(keys::inspect_csr(&pem_text("CERTIFICATE REQUEST", &other_name, 64)).is_err(), "a CSR with an altered name was accepted");
    }
}

/// Policy-document comparison. On any JSON document: `normalize` is idempotent; `equivalent` is
/// reflexive and symmetric, holds after any rewrite that keeps the meaning (key order, a single
/// string for a one-element Action/Resource list, order and repeats in string lists, order and
/// repeats of statements, a lone statement without its list) and fails once a statement gains
/// an action; `reconcile` keeps our text exactly when equivalent and otherwise records what AWS
/// holds. On any text: `decode_iam_document` undoes IAM's URL encoding.
pub fn policy_document(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    assert_eq!(document::decode_iam_document(&urlencoding::encode(&text)), text, "URL-encoded text does not decode to itself");
    if text.trim_start().starts_with('{') {
        assert_eq!(document::decode_iam_document(&text), text, "a JSON document was altered by decoding");
    }
    let Ok(doc) = serde_json::from_slice::<Json>(data) else { return };
    let normal = document::normalize(&doc);
    assert_eq!(document::normalize(&normal), normal, "normalize is not idempotent on {doc}");
    assert!(document::equivalent(&doc, &doc), "not equivalent to itself: {doc}");
    assert!(document::equivalent(&doc, &normal) && document::equivalent(&normal, &doc), "not equivalent to its normal form: {doc}");
    assert_eq!(document::reconcile(&doc.to_string(), &doc), doc.to_string());

    let mut rng = Rng::seeded(data);
    let rewritten = keep_meaning(&doc, &mut rng);
    assert!(document::equivalent(&doc, &rewritten), "{rewritten} means the same as {doc}");
    assert!(document::equivalent(&rewritten, &doc), "equivalent is not symmetric: {doc} and {rewritten}");
    assert_eq!(document::reconcile(&rewritten.to_string(), &doc), doc.to_string(), "reconcile recorded a rewrite of our own document");

    if let Some(changed) = add_action(&doc) {
        assert!(!document::equivalent(&doc, &changed), "{changed} grants more than {doc}");
        assert!(!document::equivalent(&changed, &doc), "equivalent is not symmetric: {doc} and {changed}");
        let recorded: Json = serde_json::from_str(&document::reconcile(&changed.to_string(), &doc)).expect("reconcile returns JSON");
        assert_eq!(recorded, changed, "reconcile must record the changed document as AWS holds it");
    }
}

/// Reads fuzz input as a stream of choices. Past the end every choice is 0, which always picks
/// the smallest option, so whatever is generated from it is finite.
struct Choices<'a> {
    data: &'a [u8],
}

impl<'a> Choices<'a> {
    fn new(data: &'a [u8]) -> Self {
        Choices { data }
    }

    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, tail) = self.data.split_at(n.min(self.data.len()));
        self.data = tail;
        head
    }

    fn rest(self) -> &'a [u8] {
        self.data
    }
}

/// Deeper types are read as primitives: deep enough for every schema the provider has.
const MAX_TYPE_DEPTH: usize = 8;

/// The type prefix: one byte picks the kind (modulo 9: string, number, bool, dynamic, list,
/// set, map, object, tuple); a list, set or map is followed by its element type; an object by a
/// count byte and that many (name length byte, name bytes, attribute type); a tuple by a count
/// byte and that many element types.
fn read_type(choices: &mut Choices, depth: usize) -> Type {
    let kinds = if depth >= MAX_TYPE_DEPTH { 4 } else { 9 };
    match choices.byte() % kinds {
        0 => Type::String,
        1 => Type::Number,
        2 => Type::Bool,
        3 => Type::Dynamic,
        4 => Type::list(read_type(choices, depth + 1)),
        5 => Type::set(read_type(choices, depth + 1)),
        6 => Type::map(read_type(choices, depth + 1)),
        7 => Type::Object(read_attributes(choices, depth + 1)),
        _ => {
            let count = choices.byte();
            Type::Tuple((0..count).map(|_| read_type(choices, depth + 1)).collect())
        }
    }
}

/// An object type's attributes, in the type prefix's form (count byte, then each attribute).
fn read_attributes(choices: &mut Choices, depth: usize) -> BTreeMap<String, Type> {
    let count = choices.byte();
    (0..count)
        .map(|_| {
            let len = usize::from(choices.byte());
            let name = String::from_utf8_lossy(choices.bytes(len)).into_owned();
            (name, read_type(choices, depth))
        })
        .collect()
}

/// True when `value` has the shape of `ty`: objects with exactly the type's attributes, tuples
/// of its length, elements of the element type. Null and unknown fit anywhere; a dynamic type
/// takes any value.
fn conforms(value: &Value, ty: &Type) -> bool {
    match (value, ty) {
        (Value::Null | Value::Unknown, _) | (_, Type::Dynamic) => true,
        (Value::String(_), Type::String) | (Value::Number(_), Type::Number) | (Value::Bool(_), Type::Bool) => true,
        (Value::List(items), Type::List(element) | Type::Set(element)) => items.iter().all(|i| conforms(i, element)),
        (Value::List(items), Type::Tuple(elements)) => {
            items.len() == elements.len() && items.iter().zip(elements).all(|(i, e)| conforms(i, e))
        }
        (Value::Map(entries), Type::Map(element)) => entries.values().all(|v| conforms(v, element)),
        (Value::Map(entries), Type::Object(attributes)) => {
            entries.len() == attributes.len() && attributes.iter().all(|(name, t)| entries.get(name).is_some_and(|v| conforms(v, t)))
        }
        _ => false,
    }
}

fn depth(value: &Value) -> usize {
    match value {
        Value::List(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Map(entries) => 1 + entries.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// A wholly known value reads back as itself from its JSON, both as a tree and as JSON text
/// (what Terraform stores in state).
fn assert_json_agrees(value: &Value, ty: &Type) {
    let json = value.to_json().expect("a wholly known value has a JSON form");
    let back = Value::from_json(&json, ty).unwrap_or_else(|e| panic!("the JSON form {json} of {value:?} does not read as {ty:?}: {e}"));
    assert_eq!(&back, value, "JSON round trip of {ty:?}");
    let text = serde_json::to_string(&json).expect("JSON serialises");
    match serde_json::from_str::<Json>(&text) {
        Ok(reparsed) => assert_eq!(Value::from_json(&reparsed, ty).as_ref(), Ok(value), "JSON text round trip via {text}"),
        // serde_json refuses to nest deeper than 128; such values only come from dynamic
        // values nested in dynamic values, which Terraform never sends.
        Err(e) => assert!(depth(value) > 100, "our own JSON text {text} does not parse: {e}"),
    }
}

fn assert_msgpack_round_trips(value: &Value, ty: &Type) {
    let encoded = msgpack::encode(value, ty).unwrap_or_else(|e| panic!("{value:?} read from JSON as {ty:?} does not encode: {e}"));
    let decoded = msgpack::decode(&encoded, ty).unwrap_or_else(|e| panic!("our own encoding of {value:?} does not decode: {e}"));
    assert_eq!(&decoded, value, "msgpack round trip of {ty:?}");
}

/// What renaming promises: the old names are gone, each new name holds its own earlier value or
/// else the old name's, and every other attribute is untouched. A state that is not an object
/// (null: nothing stored) is returned as it was.
fn assert_renamed(stored: &Json, upgraded: &Json, renames: &[(&str, &str)]) {
    let (Some(before), Some(after)) = (stored.as_object(), upgraded.as_object()) else {
        assert_eq!(stored, upgraded, "a state that is not an object was changed");
        return;
    };
    for (old, new) in renames {
        assert!(!after.contains_key(*old), "{old} is still in the upgraded state");
        assert_eq!(after.get(*new), before.get(*new).or_else(|| before.get(*old)), "{new} after renaming {old}");
    }
    let renamed = |k: &str| renames.iter().any(|(old, new)| k == *old || k == *new);
    for (k, v) in before.iter().filter(|(k, _)| !renamed(k)) {
        assert_eq!(after.get(k), Some(v), "{k} was changed by renaming");
    }
    assert!(after.keys().all(|k| before.contains_key(k) || renamed(k)), "renaming added attributes");
}

const LIST_OR_STRING_KEYS: [&str; 4] = ["Action", "NotAction", "Resource", "NotResource"];

/// A random rewrite of `doc` that `normalize` promises to see through.
fn keep_meaning(doc: &Json, rng: &mut Rng) -> Json {
    match doc {
        Json::Object(map) => {
            let mut entries: Vec<(String, Json)> = map.iter().map(|(k, v)| (k.clone(), keep_meaning_of_entry(k, v, rng))).collect();
            rng.shuffle(&mut entries);
            Json::Object(entries.into_iter().collect())
        }
        Json::Array(items) => Json::Array(items.iter().map(|i| keep_meaning(i, rng)).collect()),
        other => other.clone(),
    }
}

fn keep_meaning_of_entry(key: &str, value: &Json, rng: &mut Rng) -> Json {
    let list_or_string = LIST_OR_STRING_KEYS.contains(&key);
    match value {
        Json::String(_) if list_or_string && rng.chance() => Json::Array(vec![value.clone(); 1 + rng.below(2)]),
        Json::Array(items) if items.iter().all(Json::is_string) => {
            let mut items = items.clone();
            if !items.is_empty() && rng.chance() {
                let repeated = items[rng.below(items.len())].clone();
                items.push(repeated);
            }
            rng.shuffle(&mut items);
            if list_or_string && !items.is_empty() && items.iter().all(|i| *i == items[0]) && rng.chance() {
                return items.swap_remove(0);
            }
            Json::Array(items)
        }
        Json::Array(items) if key == "Statement" => {
            let mut statements: Vec<Json> = items.iter().map(|s| keep_meaning(s, rng)).collect();
            if !statements.is_empty() && rng.chance() {
                let repeated = statements[rng.below(statements.len())].clone();
                statements.push(repeated);
            }
            rng.shuffle(&mut statements);
            if statements.len() == 1 && statements[0].is_object() && rng.chance() {
                return statements.swap_remove(0);
            }
            Json::Array(statements)
        }
        Json::Object(_) if key == "Statement" && rng.chance() => Json::Array(vec![keep_meaning(value, rng)]),
        other => keep_meaning(other, rng),
    }
}

/// `doc` with an action that occurs nowhere in it added to its first statement that has an
/// `Action`; `None` when no statement has one.
fn add_action(doc: &Json) -> Option<Json> {
    let text = doc.to_string();
    let fresh = (0..).map(|n| format!("fuzz:Added{n}")).find(|a| !text.contains(a.as_str()))?;
    let mut changed = doc.clone();
    let statements: Vec<&mut Json> = match changed.get_mut("Statement")? {
        Json::Array(items) => items.iter_mut().collect(),
        single @ Json::Object(_) => vec![single],
        _ => return None,
    };
    let action = statements.into_iter().find_map(|s| s.get_mut("Action").filter(|a| a.is_string() || a.is_array()))?;
    match action {
        Json::Array(items) => items.push(Json::String(fresh)),
        single => *single = Json::Array(vec![single.take(), Json::String(fresh)]),
    }
    Some(changed)
}

/// The first CERTIFICATE REQUEST block's DER, read with rustls-pki-types directly.
fn first_csr_der(pem: &str) -> Option<Vec<u8>> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateSigningRequestDer::from_pem_slice(pem.as_bytes()).ok().map(|der| der.as_ref().to_vec())
}

fn pem_text(label: &str, der: &[u8], line_width: usize) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = encoded.as_bytes().chunks(line_width).map(|c| std::str::from_utf8(c).expect("base64 is ASCII")).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// xorshift64*: deterministic choices for the rewrites (seeded by the input, so a crash
/// reproduces from its input alone) and for the tests' mutations.
struct Rng(u64);

impl Rng {
    fn seeded(data: &[u8]) -> Self {
        // FNV-1a; `| 1` keeps the state non-zero, which xorshift needs.
        Rng(data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)) | 1)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    fn chance(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

#[cfg(test)]
mod tests {
    //! The CI slice: every target over its seed corpus and deterministic mutations of it.
    use super::*;
    use std::path::{Path, PathBuf};

    /// Mutations per target: enough to cross every branch the seeds reach, well under a
    /// second per target in a debug build.
    const MUTATIONS: usize = 3000;

    fn corpus_dir(target: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target)
    }

    fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
        let dir = corpus_dir(target);
        let mut seeds: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| {
                let path = entry.unwrap().path();
                (path.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&path).unwrap())
            })
            .collect();
        seeds.sort();
        assert!(seeds.len() >= 4, "{target}: the seed corpus is missing");
        seeds
    }

    /// One of libFuzzer's simpler mutations, chosen by `rng`; `other` is another seed to splice.
    fn mutate(input: &[u8], other: &[u8], rng: &mut Rng) -> Vec<u8> {
        const INTERESTING: [u8; 10] = [0x00, 0x01, 0x7f, 0x80, 0xff, 0xc0, 0xd4, 0xdd, b'"', b'{'];
        let mut out = input.to_vec();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(out.len() + 1);
            match rng.below(7) {
                0 if at < out.len() => out[at] ^= 1 << rng.below(8),
                1 if at < out.len() => out[at] = INTERESTING[rng.below(INTERESTING.len())],
                2 => out.insert(at, rng.next_u64() as u8),
                3 if at < out.len() => {
                    out.remove(at);
                }
                4 => out.truncate(at),
                5 if !other.is_empty() => {
                    let from = rng.below(other.len());
                    let len = rng.below(other.len() - from + 1).min(64);
                    out.splice(at..at, other[from..from + len].iter().copied());
                }
                _ if at < out.len() => {
                    let len = rng.below(out.len() - at + 1).min(16);
                    let copy = out[at..at + len].to_vec();
                    out.splice(at..at, copy);
                }
                _ => {}
            }
        }
        out
    }

    fn run_slice(target: &str, run: fn(&[u8])) {
        let seeds = seeds(target);
        for (name, seed) in &seeds {
            let outcome = std::panic::catch_unwind(|| run(seed));
            assert!(outcome.is_ok(), "{target}: seed {name} fails");
        }
        let mut rng = Rng(0x5eed_0000_0000_0001 ^ target.len() as u64);
        for i in 0..MUTATIONS {
            let (_, seed) = &seeds[i % seeds.len()];
            let (_, other) = &seeds[rng.below(seeds.len())];
            let input = mutate(seed, other, &mut rng);
            let outcome = std::panic::catch_unwind(|| run(&input));
            assert!(outcome.is_ok(), "{target}: mutation {i} fails; input {input:?}");
        }
    }

    #[test]
    fn msgpack_value_slice() {
        run_slice("msgpack_value", msgpack_value);
    }

    #[test]
    fn json_value_slice() {
        run_slice("json_value", json_value);
    }

    #[test]
    fn state_upgrade_slice() {
        run_slice("state_upgrade", state_upgrade);
    }

    #[test]
    fn csr_inspection_slice() {
        run_slice("csr_inspection", csr_inspection);
    }

    #[test]
    fn policy_document_slice() {
        run_slice("policy_document", policy_document);
    }

    /// The seeds reach past the first checks (a seed that no longer decodes would leave the
    /// fuzzer mutating noise): every msgpack seed decodes, every JSON and state seed reads
    /// against its type, every CSR seed is accepted, every policy seed that is JSON is a document.
    #[test]
    fn every_seed_reaches_the_code_under_test() {
        for (name, seed) in seeds("msgpack_value") {
            let mut c = Choices::new(&seed);
            let ty = read_type(&mut c, 0);
            assert!(msgpack::decode(c.rest(), &ty).is_ok(), "msgpack_value/{name}");
        }
        for (name, seed) in seeds("json_value") {
            let mut c = Choices::new(&seed);
            let ty = read_type(&mut c, 0);
            let json: Json = serde_json::from_slice(c.rest()).unwrap_or_else(|e| panic!("json_value/{name}: {e}"));
            assert!(Value::from_json(&json, &ty).is_ok(), "json_value/{name}");
        }
        for (name, seed) in seeds("state_upgrade") {
            let mut c = Choices::new(&seed);
            let (_, renames) = STATE_RENAMES[usize::from(c.byte()) % STATE_RENAMES.len()];
            let ty = Type::Object(read_attributes(&mut c, 1));
            let json: Json = serde_json::from_slice(c.rest()).unwrap_or_else(|e| panic!("state_upgrade/{name}: {e}"));
            assert!(Value::from_json(&rename_state_attributes(json, renames), &ty).is_ok(), "state_upgrade/{name}");
        }
        for (name, seed) in seeds("csr_inspection") {
            let pem = if seed[0] % 2 == 0 {
                String::from_utf8(seed[1..].to_vec()).unwrap()
            } else {
                pem_text("CERTIFICATE REQUEST", &seed[1..], 64)
            };
            assert!(keys::inspect_csr(&pem).is_ok(), "csr_inspection/{name}: {:?}", keys::inspect_csr(&pem));
        }
        for (name, seed) in seeds("policy_document") {
            if let Ok(doc) = serde_json::from_slice::<Json>(&seed) {
                assert!(doc.get("Statement").is_some(), "policy_document/{name}");
            }
        }
    }

    /// Writes a type back in the type-prefix form [`read_type`] reads (for the seeds).
    fn type_prefix(ty: &Type, out: &mut Vec<u8>) {
        match ty {
            Type::String => out.push(0),
            Type::Number => out.push(1),
            Type::Bool => out.push(2),
            Type::Dynamic => out.push(3),
            Type::List(e) => {
                out.push(4);
                type_prefix(e, out);
            }
            Type::Set(e) => {
                out.push(5);
                type_prefix(e, out);
            }
            Type::Map(e) => {
                out.push(6);
                type_prefix(e, out);
            }
            Type::Object(attributes) => {
                out.push(7);
                attributes_prefix(attributes, out);
            }
            Type::Tuple(elements) => {
                out.push(8);
                out.push(u8::try_from(elements.len()).expect("at most 255 elements"));
                elements.iter().for_each(|e| type_prefix(e, out));
            }
        }
    }

    fn attributes_prefix(attributes: &BTreeMap<String, Type>, out: &mut Vec<u8>) {
        out.push(u8::try_from(attributes.len()).expect("at most 255 attributes"));
        for (name, ty) in attributes {
            out.push(u8::try_from(name.len()).expect("names under 256 bytes"));
            out.extend_from_slice(name.as_bytes());
            type_prefix(ty, out);
        }
    }

    #[test]
    fn type_prefixes_read_back_as_their_types() {
        let ty = Type::object([
            ("name", Type::String),
            ("ids", Type::set(Type::Number)),
            ("nested", Type::list(Type::object([("x", Type::map(Type::Bool)), ("any", Type::Dynamic)]))),
            ("pair", Type::Tuple(vec![Type::String, Type::Number])),
        ]);
        let mut prefix = Vec::new();
        type_prefix(&ty, &mut prefix);
        prefix.extend_from_slice(b"rest");
        let mut choices = Choices::new(&prefix);
        assert_eq!(read_type(&mut choices, 0), ty);
        assert_eq!(choices.rest(), b"rest");
        // Past the end of the input everything is a string, so generation stops.
        assert_eq!(read_type(&mut Choices::new(&[4, 4]), 0), Type::list(Type::list(Type::String)));
    }

    #[test]
    fn the_invariants_catch_what_they_are_for() {
        // A rewrite of our own trust policy keeps its meaning; adding an action does not.
        let trust = terraform_provider_maestro::policy::iam::pod_identity_trust_policy();
        let changed = add_action(&trust).unwrap();
        assert!(!document::equivalent(&trust, &changed));
        assert!(changed.to_string().contains("fuzz:Added0"));
        // A renamed attribute that lost its value is noticed.
        let stored = serde_json::json!({"account_id": "1", "consumer_id": "c"});
        let broken = serde_json::json!({"consumer_id": "c"});
        assert!(std::panic::catch_unwind(|| assert_renamed(&stored, &broken, &[("account_id", "management_account_id")])).is_err());
        // An object value missing an attribute of its type does not conform.
        assert!(!conforms(&Value::object([("a", Value::Null)]), &Type::object([("a", Type::String), ("b", Type::String)])));
    }

    #[cfg(feature = "aws")]
    #[test]
    fn state_renames_are_the_resources_own() {
        let resources = terraform_provider_maestro::resources::all();
        for (type_name, renames) in STATE_RENAMES {
            let resource = resources.iter().find(|r| r.type_name() == type_name).unwrap_or_else(|| panic!("{type_name}"));
            let stored: Json =
                renames.iter().map(|(old, _)| (old.to_string(), Json::from("v0"))).chain([("id".to_string(), Json::from("x"))]).collect();
            let upgraded = resource.upgrade_state(0, stored.clone()).unwrap_or_else(|_| panic!("{type_name} upgrade"));
            assert_eq!(upgraded, rename_state_attributes(stored, renames), "{type_name}: STATE_RENAMES is out of date");
            assert!(resource.schema().version >= 1, "{type_name}");
        }
    }

    /// Writes the generated seeds from the real schemas, policies and keys:
    /// `cargo test --test fuzz_corpora write_seed_corpora -- --ignored`. The `openssl-*` CSRs
    /// were made once with `openssl req` (each key type with each digest) and are kept as they are.
    #[cfg(feature = "aws")]
    #[test]
    #[ignore = "writes fuzz/corpus; run by hand when a schema or an input format changes"]
    fn write_seed_corpora() {
        use serde_json::json;
        use terraform_provider_maestro::policy::{agent_binding::AgentBinding, consumer_iot, iam, server_binding};

        let write = |target: &str, name: &str, bytes: &[u8]| {
            let dir = corpus_dir(target);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(name), bytes).unwrap();
        };
        let typed = |ty: &Type, rest: &[u8]| {
            let mut out = Vec::new();
            type_prefix(ty, &mut out);
            out.extend_from_slice(rest);
            out
        };

        let key = keys::generate(keys::KeyAlgorithm::EcdsaP256).unwrap();
        let csr = keys::csr_pem(&key, "management-01-work-agent").unwrap();
        let trust = iam::pod_identity_trust_policy().to_string();
        let sample_text = |name: &str| -> String {
            match name {
                n if n.contains("account_id") => "987654321098".into(),
                n if n.contains("region") => "us-east-1".into(),
                n if n.contains("csr") => csr.clone(),
                n if n.contains("endpoint") => "a1b2c3d4e5f6g7-ats.iot.us-east-1.amazonaws.com".into(),
                n if n.contains("fingerprint") => key.fingerprint(),
                n if n.contains("arn") => "arn:aws:iam::987654321098:role/management-01-maestro-agent".into(),
                n if n.contains("policy") => trust.clone(),
                "cluster_id" | "consumer_id" | "eks_cluster_name" | "name" => "management-01".into(),
                n => format!("example-{n}"),
            }
        };
        fn sample(ty: &Type, name: &str, text: &dyn Fn(&str) -> String) -> Value {
            match ty {
                Type::String => Value::String(text(name)),
                Type::Number => Value::from(24),
                Type::Bool => Value::Bool(true),
                Type::Dynamic => Value::object([("team", Value::string("platform"))]),
                Type::List(e) | Type::Set(e) => Value::List(vec![sample(e, name, text)]),
                Type::Map(e) => Value::object([("team", sample(e, name, text))]),
                Type::Object(attributes) => Value::Map(attributes.iter().map(|(k, t)| (k.clone(), sample(t, k, text))).collect()),
                Type::Tuple(elements) => Value::List(elements.iter().map(|e| sample(e, name, text)).collect()),
            }
        }

        for resource in terraform_provider_maestro::resources::all() {
            let type_name = resource.type_name().trim_start_matches("maestro_");
            let schema = resource.schema();
            let ty = schema.value_type();
            let mut state = sample(&ty, type_name, &sample_text);
            for a in schema.block.attributes.iter().filter(|a| a.write_only) {
                state.set(&a.name, Value::Null);
            }
            // A plan: what only the provider computes is unknown until apply.
            let mut plan = state.clone();
            for a in schema.block.attributes.iter().filter(|a| a.computed && !a.optional) {
                plan.set(&a.name, Value::Unknown);
            }
            write("msgpack_value", &format!("{type_name}-state"), &typed(&ty, &msgpack::encode(&state, &ty).unwrap()));
            write("msgpack_value", &format!("{type_name}-plan"), &typed(&ty, &msgpack::encode(&plan, &ty).unwrap()));
            let state_json = state.to_json().unwrap();
            write("json_value", &format!("{type_name}-state"), &typed(&ty, state_json.to_string().as_bytes()));

            // Version-0 state as the resources stored it: renamed attributes under their old names.
            let Type::Object(attributes) = &ty else { unreachable!() };
            let (selector, renames) = match STATE_RENAMES.iter().position(|(t, _)| *t == resource.type_name()) {
                Some(i) => (i, STATE_RENAMES[i].1),
                None => (0, &[][..]),
            };
            let mut stored = state_json.clone();
            for (old, new) in renames {
                let value = stored.as_object_mut().unwrap().remove(*new).unwrap();
                stored[*old] = value;
            }
            let mut seed = vec![u8::try_from(selector).unwrap()];
            attributes_prefix(attributes, &mut seed);
            seed.extend_from_slice(stored.to_string().as_bytes());
            write("state_upgrade", &format!("{type_name}-v0"), &seed);
        }

        // The msgpack unit tests' values and go-cty's own forms.
        let unit_type = Type::object([
            ("name", Type::String),
            ("count", Type::Number),
            ("enabled", Type::Bool),
            ("tags", Type::map(Type::String)),
            ("ids", Type::list(Type::Number)),
            ("nested", Type::object([("x", Type::String)])),
            ("any", Type::Dynamic),
        ]);
        let unit_value = Value::object([
            ("name", Value::string("management-01")),
            ("count", Value::from(-3)),
            ("enabled", Value::Bool(true)),
            ("tags", Value::object([("team", Value::string("platform"))])),
            ("ids", Value::List(vec![Value::from(1), Value::from(300_000), Value::Unknown])),
            ("nested", Value::Unknown),
            ("any", Value::object([("k", Value::string("v"))])),
        ]);
        write("msgpack_value", "unit-test-value", &typed(&unit_type, &msgpack::encode(&unit_value, &unit_type).unwrap()));
        write("msgpack_value", "refined-unknown", &typed(&Type::String, &[0xc7, 0x03, 0x0c, 0x81, 0x01, 0xc2]));
        write(
            "msgpack_value",
            "dynamic-string",
            &typed(&Type::Dynamic, &[0x92, 0xc4, 0x08, b'"', b's', b't', b'r', b'i', b'n', b'g', b'"', 0xa1, b'x']),
        );
        write(
            "msgpack_value",
            "number-as-string",
            &typed(&Type::Number, &msgpack::encode(&Value::string("12345678901234567890123"), &Type::String).unwrap()),
        );
        write("msgpack_value", "float64", &typed(&Type::list(Type::Number), &[0x92, 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0xd0, 0xff]));
        let conversions = Type::object([("count", Type::Number), ("enabled", Type::Bool), ("name", Type::String)]);
        write("json_value", "conversions", &typed(&conversions, br#"{"count":"3","enabled":"true","name":12,"dropped":[1]}"#));
        write(
            "json_value",
            "type-json",
            &typed(&Type::Dynamic, br#"["object",{"a":"string","b":["list","number"],"c":["tuple",["bool","dynamic"]]},["b"]]"#),
        );
        write(
            "json_value",
            "unit-test-value",
            &typed(
                &unit_type,
                br#"{"name":"x","count":1.5,"enabled":false,"tags":{"a":"b"},"ids":[1,2],"nested":null,"any":[1,"two",{"three":3}]}"#,
            ),
        );
        let consumer = STATE_RENAMES[0].1[0];
        let mut half_way = vec![0];
        attributes_prefix(
            &BTreeMap::from([(consumer.1.to_string(), Type::String), ("consumer_id".to_string(), Type::String)]),
            &mut half_way,
        );
        half_way.extend_from_slice(format!(r#"{{"{}":"1","{}":"2","consumer_id":"mc-1"}}"#, consumer.0, consumer.1).as_bytes());
        write("state_upgrade", "both-names", &half_way);
        write("state_upgrade", "null-state", &[1, 0, b'n', b'u', b'l', b'l']);

        for algorithm in keys::KeyAlgorithm::ALL {
            let key = keys::generate(algorithm).unwrap();
            let pem = keys::csr_pem(&key, "management-01-work-agent").unwrap();
            let name = algorithm.as_str().to_lowercase();
            write("csr_inspection", &format!("gen-{name}.pem"), format!("0{pem}").as_bytes());
            write("csr_inspection", &format!("gen-{name}.der"), &[&[b'1'][..], &first_csr_der(&pem).unwrap()].concat());
        }

        let binding = AgentBinding {
            cluster_id: "management-01".into(),
            topic_prefix: "sources/maestro/consumers".into(),
            partition: "aws".into(),
            broker_region: "us-east-1".into(),
            broker_account_id: "123456789012".into(),
            cloudevents_client_id: "management-01-work-agent".into(),
        };
        let secret = iam::secret_arn_pattern("aws", "us-east-1", "987654321098", "management-01/maestro/agent-mqtt-cert");
        let kms = iam::KmsDecrypt::through_secrets_manager(
            "arn:aws:kms:us-east-1:987654321098:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "aws",
            "us-east-1",
        );
        let server = server_binding::ServerBinding {
            name: "regional".into(),
            topic_prefix: "sources/maestro/consumers".into(),
            partition: "aws".into(),
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
            client_id_prefix: "maestro".into(),
            subscription: server_binding::Subscription::Shared { group: "maestro".into() },
        };
        let broadcast = server_binding::ServerBinding { subscription: server_binding::Subscription::Broadcast, ..server.clone() };
        let documents = [
            ("agent-trust.json", iam::pod_identity_trust_policy()),
            ("agent-secrets.json", iam::secret_read_policy("Agent", std::slice::from_ref(&secret), None)),
            ("agent-secrets-kms.json", iam::secret_read_policy("Agent", std::slice::from_ref(&secret), Some(&kms))),
            ("agent-iam-iot.json", iam::agent_iot_policy(&binding)),
            ("agent-iot-policy.json", consumer_iot::agent_iot_policy_document(&binding).unwrap()),
            ("server-iot-policy-shared.json", server.iot_policy_document()),
            ("server-iot-policy-broadcast.json", broadcast.iot_policy_document()),
            ("server-iam-iot.json", server.iam_iot_policy()),
            (
                "single-strings.json",
                json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "iot:Connect", "Resource": "arn:aws:iot:us-east-1:123456789012:client/maestro"}}),
            ),
        ];
        for (name, doc) in &documents {
            write("policy_document", name, serde_json::to_string_pretty(doc).unwrap().as_bytes());
        }
        write("policy_document", "agent-trust.url-encoded", urlencoding::encode(&trust).as_bytes());
    }
}
