//! Attributes are read and written through each resource's typed model: an attribute's name is
//! spelled in a `schema.rs` or `model.rs` and nowhere else in the layers that hold resources and
//! functions. This test asks the provider for every schema it serves (resources and their
//! identities, data sources, ephemeral and list resources, actions, the objects functions
//! return), then scans the non-test code of `src/resources` and `src/functions` for a string
//! literal equal to one of those names, so a string-keyed `state.get("…")` cannot creep back.

use maestro_provider_names::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The names, and the files allowed to spell them.
mod maestro_provider_names {
    use std::collections::BTreeSet;
    use terraform_provider_maestro::framework::provider::Provider;
    use terraform_provider_maestro::framework::schema::{Attribute, AttributeKind, Block};
    use terraform_provider_maestro::framework::Type;

    fn block_names(block: &Block, names: &mut BTreeSet<String>) {
        for a in &block.attributes {
            attribute_names(a, names);
        }
        for b in &block.blocks {
            names.insert(b.name.clone());
            block_names(&b.block, names);
        }
    }

    /// An attribute's name, its nested attributes' names, and the attribute names of the
    /// records in a collection of objects (`previous_certificates`). A bare object-typed
    /// attribute is a document whose keys belong to its consumer (a chart's values), not to
    /// the provider, so its keys are not collected.
    fn attribute_names(a: &Attribute, names: &mut BTreeSet<String>) {
        names.insert(a.name.clone());
        match &a.kind {
            AttributeKind::Nested { attributes, .. } => attributes.iter().for_each(|n| attribute_names(n, names)),
            AttributeKind::Plain(Type::List(e) | Type::Set(e) | Type::Map(e)) => type_names(e, names),
            AttributeKind::Plain(_) => {}
        }
    }

    fn type_names(ty: &Type, names: &mut BTreeSet<String>) {
        match ty {
            Type::Object(attrs) => {
                for (name, t) in attrs {
                    names.insert(name.clone());
                    type_names(t, names);
                }
            }
            Type::List(e) | Type::Set(e) | Type::Map(e) => type_names(e, names),
            Type::Tuple(es) => es.iter().for_each(|e| type_names(e, names)),
            Type::String | Type::Number | Type::Bool | Type::Dynamic => {}
        }
    }

    /// Every attribute name the provider's resources (and their identities), data sources,
    /// ephemeral resources, list resources and actions declare, and the attribute names of the objects functions return.
    pub fn declared_attribute_names() -> BTreeSet<String> {
        let provider = terraform_provider_maestro::maestro_provider();
        let mut names = BTreeSet::new();
        let schemas = provider
            .resources()
            .iter()
            .map(|r| r.schema())
            .chain(provider.data_sources().iter().map(|d| d.schema()))
            .chain(provider.ephemeral_resources().iter().map(|e| e.schema()))
            .chain(provider.list_resources().iter().map(|l| l.schema()))
            .chain(provider.actions().iter().map(|a| a.schema()))
            .collect::<Vec<_>>();
        for schema in &schemas {
            block_names(&schema.block, &mut names);
        }
        for identity in provider.resources().iter().filter_map(|r| r.identity_schema()) {
            names.extend(identity.attributes.into_iter().map(|a| a.name));
        }
        for function in provider.functions() {
            type_names(&function.signature().return_type, &mut names);
        }
        names
    }
}

/// The layers that know resources and functions. The layers beneath them (`policy`, `crypto`,
/// `provider`, `framework`) know no resource, so a word there that happens to be an attribute's
/// name (`region`, `policy`) is a document key or a value, not a read of an attribute.
const LAYERS_WITH_ATTRIBUTES: &[&str] = &["resources", "functions"];

/// The files that own attribute names: a resource's schema and model.
fn may_spell_names(path: &Path) -> bool {
    matches!(path.file_name().and_then(|n| n.to_str()), Some("schema.rs" | "model.rs"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code before the file's test module (tests may build values by name).
fn shipped_code(text: &str) -> &str {
    match text.find("#[cfg(test)]\nmod ") {
        Some(at) => &text[..at],
        None => text,
    }
}

/// Every `"…"` literal on the line whose whole content is a lowercase identifier.
fn identifier_literals(line: &str) -> Vec<&str> {
    line.split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| {
            let mut chars = s.chars();
            chars.next().is_some_and(|c| c.is_ascii_lowercase()) && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
        .collect()
}

/// `file:line: "name"` for every attribute-name literal outside schema and model files.
fn offences(names: &BTreeSet<String>, root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(root, &mut files);
    files.sort();
    let mut found = Vec::new();
    for path in files.iter().filter(|p| !may_spell_names(p)) {
        let text = std::fs::read_to_string(path).unwrap();
        for (i, line) in shipped_code(&text).lines().enumerate() {
            // A comment explains, and a `json!` document's keys belong to that document.
            if line.trim_start().starts_with("//") || line.contains("json!(") {
                continue;
            }
            for literal in identifier_literals(line) {
                if names.contains(literal) {
                    found.push(format!("{}:{}: \"{literal}\"", path.display(), i + 1));
                }
            }
        }
    }
    found
}

#[test]
fn attribute_names_are_spelled_only_in_schema_and_model_files() {
    let names = declared_attribute_names();
    assert!(names.contains("cluster_id") && names.contains("certificate_pem"), "schemas not read: {names:?}");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found: Vec<String> = LAYERS_WITH_ATTRIBUTES.iter().flat_map(|layer| offences(&names, &src.join(layer))).collect();
    assert!(found.is_empty(), "attribute names outside schema.rs/model.rs ({}):\n{}", found.len(), found.join("\n"));
}

#[test]
fn the_scan_finds_a_string_keyed_read() {
    // The check must be able to fail: a file that reads state by name is reported.
    let dir = std::env::temp_dir().join(format!("attribute-names-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("resources")).unwrap();
    std::fs::write(
        dir.join("resources/plan.rs"),
        "fn f(s: &V) { text(s, \"cluster_id\"); }\n#[cfg(test)]\nmod tests { fn t() { \"namespace\"; } }\n",
    )
    .unwrap();
    std::fs::write(dir.join("resources/model.rs"), "const A: &str = \"cluster_id\";\n").unwrap();
    let names: BTreeSet<String> = ["cluster_id", "namespace"].map(String::from).into();
    let found = offences(&names, &dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].ends_with("plan.rs:1: \"cluster_id\""), "{found:?}");
}
