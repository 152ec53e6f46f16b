"""The registry documentation in docs/ against the schema and the behaviour of the built provider.

docs/ is written by tfplugindocs (hashicorp/terraform-plugin-docs, the registry's own generator,
pinned in scripts/install-test-tools.sh) from templates/, examples/ and the schema JSON the CLI
under test prints (`providers schema -json` after `init` through the session's mirror): docs/
must be exactly what a fresh `tfplugindocs generate` writes, and `tfplugindocs validate` must
accept it. A renamed attribute, a reworded description or an edited page fails here;
`scripts/docs` regenerates docs/ (with Terraform, which reports every kind of object).

What the schema JSON does not say — an argument's default, and whether changing it replaces
the resource — is written by hand in each resource template's "Defaults and replacement" section
(or in the schema's description) and checked against the provider itself: a plan of a
configuration that sets only the required arguments shows what every optional argument defaults
to, and a plan that changes every argument of applied resources shows which changes replace them.

Example usage and import syntax on each page must be the files under examples/ verbatim, so the
examples the test suite validates are the ones users read. Version claims in the docs, the
README and the examples' `required_version` are checked against a table of the CLI releases
that introduced each feature (taken from the CLIs' changelogs).
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from harness import aws_accounts, aws_inspect, hcl, provider_docs, settings
from harness import doc_pages as pages
from harness.tofu_workspace import TofuWorkspace

pytestmark = pytest.mark.acceptance

SCHEMA_KINDS = tuple(pages.KIND_DIRECTORIES)
# OpenTofu 1.12.6 has no list resources or actions: its `providers schema -json` leaves out
# list_resource_schemas and action_schemas (Terraform 1.16.4 reports both), so under OpenTofu
# the pages of those kinds cannot be matched to a schema object and are checked only under
# Terraform (scripts/test runs this file under both).
KINDS_ONLY_TERRAFORM_REPORTS = ("list_resource_schemas", "action_schemas")


def kinds_this_cli_reports() -> tuple[str, ...]:
    if settings.cli().is_terraform:
        return SCHEMA_KINDS
    return tuple(kind for kind in SCHEMA_KINDS if kind not in KINDS_ONLY_TERRAFORM_REPORTS)


@pytest.fixture(scope="module")
def provider_schema(tmp_path_factory, tofu_binary, provider_mirror) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("docs-schema")
    workspace = TofuWorkspace(root, tofu_binary, provider_mirror.cli_config)
    workspace.set_config(hcl.terraform_block())
    workspace.init()
    schemas = workspace.providers_schema()["provider_schemas"]
    assert settings.PROVIDER_SOURCE in schemas, f"schema has providers {sorted(schemas)}"
    return schemas[settings.PROVIDER_SOURCE]


def schema_objects(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(kind, name, schema) of every documented object kind the provider has."""
    return [(kind, name, body) for kind in SCHEMA_KINDS for name, body in sorted((schema.get(kind) or {}).items())]



# ---------------------------------------------------------------- docs/ is what tfplugindocs writes


def left_out_directories() -> tuple[str, ...]:
    """docs/ subdirectories of the kinds this CLI's schema JSON does not report: their templates
    cannot be rendered from it, so they are generated and compared only under Terraform."""
    return tuple(pages.KIND_DIRECTORIES[kind] for kind in SCHEMA_KINDS if kind not in kinds_this_cli_reports())


def test_schema_has_the_provider_and_at_least_one_resource(provider_schema):
    assert provider_schema.get("provider", {}).get("block"), "schema has no provider block"
    assert provider_schema.get("resource_schemas"), "schema lists no resources"


def test_docs_are_what_tfplugindocs_generates(provider_schema, tmp_path):
    left_out = left_out_directories()
    generated = provider_docs.generate(provider_schema, tmp_path, left_out)
    problems = provider_docs.differences(generated, pages.DOCS_DIR, left_out)
    assert not problems, ("docs/ is not what tfplugindocs generates from templates/, examples/ and the schema "
                          "(edit templates/ or examples/, then run scripts/docs):\n  " + "\n  ".join(problems))


def test_tfplugindocs_validate_accepts_docs(provider_schema, tmp_path):
    """Layout, frontmatter, and one page per schema object with none left over (list resources and
    actions only when the CLI reports them: tfplugindocs skips a kind the schema JSON lacks)."""
    provider_docs.validate(provider_schema, pages.DOCS_DIR, tmp_path)


def test_a_renamed_attribute_or_argument_or_a_new_object_fails_the_docs_check(provider_schema, tmp_path):
    """The check above against schemas changed on purpose, so it cannot pass by comparing nothing."""
    changed = copy.deepcopy(provider_schema)
    attributes = changed["resource_schemas"]["maestro_agent_key"]["block"]["attributes"]
    attributes["cluster_name"] = attributes.pop("cluster_id")
    changed["functions"]["mqtt_client_id"]["parameters"][0]["name"] = "client_id"
    changed["resource_schemas"]["maestro_extra"] = copy.deepcopy(changed["resource_schemas"]["maestro_agent_key"])
    left_out = left_out_directories()
    problems = "\n".join(provider_docs.differences(provider_docs.generate(changed, tmp_path, left_out), pages.DOCS_DIR, left_out))
    for expected in ("docs/resources/agent_key.md", "`cluster_id`", "`cluster_name`", "docs/functions/mqtt_client_id.md",
                     "mqtt_client_id(client_id string)", "docs/resources/extra.md: missing; tfplugindocs generates it"):
        assert expected in problems, f"not reported: {expected}\n{problems}"
    assert "docs/resources/consumer.md" not in problems, problems

    broken = tmp_path / "broken-docs"
    shutil.copytree(pages.DOCS_DIR, broken)
    page = broken / "resources" / "agent_key.md"
    page.write_text(page.read_text(encoding="utf-8").replace("subcategory:", "layout: \"x\"\nsubcategory:", 1), encoding="utf-8")
    (broken / "functions" / "mqtt_client_id.md").rename(broken / "functions" / "mqtt_client.md")
    with pytest.raises(provider_docs.DocsToolError) as refused:
        provider_docs.validate(provider_schema, broken, tmp_path)
    for expected in ("YAML frontmatter should not contain layout", "missing documentation file for function: mqtt_client_id"):
        assert expected in str(refused.value), str(refused.value)


# ---------------------------------------------------------------- the page around them


# The type word tfplugindocs gives each kind (`{{.Type}}` in a template: `# name (Resource)`).
KIND_TITLES = {
    "resource_schemas": "Resource",
    "data_source_schemas": "Data Source",
    "ephemeral_resource_schemas": "Ephemeral Resource",
    "functions": "function",
    "list_resource_schemas": "List Resource",
    "action_schemas": "Action",
}


def expected_title(kind: str, name: str) -> str:
    return f"# {KIND_TITLES[kind]}: {name}" if kind == "functions" else f"# {name} ({KIND_TITLES[kind]})"


def expected_page_title(kind: str, name: str) -> str:
    return f"{name} {KIND_TITLES[kind]} - {provider_docs.RENDERED_PROVIDER_NAME}"


def test_pages_follow_the_registry_layout(provider_schema):
    """What our templates make of tfplugindocs' output: frontmatter and title as its default
    templates write them, the schema's description under the title, Example Usage as the first
    section, prose next, and the generated sections last:
    `## Schema` (then `## Import` for a resource), or a function's `## Signature` and `## Arguments`."""
    problems = []
    for kind, name, body in schema_objects(provider_schema):
        path = pages.page_path(kind, name)
        if not path.is_file():
            continue
        page = pages.read_page(path)
        for key in ("page_title", "subcategory", "description"):
            if not page.frontmatter.get(key):
                problems.append(f"{path.name}: frontmatter lacks `{key}`")
        if page.frontmatter.get("page_title") != expected_page_title(kind, name):
            problems.append(f"{path.name}: page_title is {page.frontmatter.get('page_title')!r}, "
                            f"expected {expected_page_title(kind, name)!r}")
        title = expected_title(kind, name)
        if not re.search(rf"^{re.escape(title)}$", page.text, re.MULTILINE):
            problems.append(f"{path.name}: no `{title}` title")
        description = body.get("description") if kind == "functions" else body["block"].get("description")
        intro = page.text.split("\n## ", 1)[0]
        if description and pages.normalize(description) not in pages.normalize(intro):
            problems.append(f"{path.name}: the schema's description of {name} is not under the title")
        headings = page.headings()
        if not headings or headings[0] != "Example Usage":
            problems.append(f"{path.name}: the first section is {headings[:1]}, expected 'Example Usage'")
        generated = ["Signature", "Arguments"] if kind == "functions" else \
            ["Schema", "Import"] if kind == "resource_schemas" else ["Schema"]
        has_timeouts = "timeouts" in (body.get("block", {}).get("block_types") or {})
        if ("Timeouts" in headings or "`timeouts`" in page.section("Schema")) and not has_timeouts:
            problems.append(f"{path.name}: documents timeouts, but {name} has no `timeouts` block")
        if headings[-len(generated):] != generated:
            problems.append(f"{path.name}: the last sections are {headings[-len(generated):]}, expected {generated} "
                            "(hand-written prose goes above the generated sections)")
    index = pages.read_page(pages.DOCS_DIR / "index.md")
    if index.headings()[:1] != ["Example Usage"] or index.headings()[-1:] != ["Schema"]:
        problems.append(f"index.md: sections {index.headings()}, expected 'Example Usage' first and 'Schema' last")
    assert not problems, "\n  ".join(["layout problems:", *problems])


# Pages that must warn about a consequence, with the registry's callouts (`~> **NOTE:**`,
# `!> **WARNING:**`, `-> **Note:**`): (page, callout, words the callout must contain).
REQUIRED_CALLOUTS = (
    ("resources/consumer.md", "!> **WARNING:**", ("destroy", "certificate", "disconnect")),
    ("resources/consumer.md", "~> **NOTE:**", ("import", "csr_pem")),
    ("resources/server_identity.md", "!> **WARNING:**", ("destroy", "certificate", "disconnect")),
    ("resources/server_identity.md", "!> **WARNING:**", ("replace", "name")),
    ("resources/server_identity.md", "~> **NOTE:**", ("import", "replace")),
    ("resources/agent_key.md", "~> **NOTE:**", ("recovery", "force_delete_without_recovery")),
    ("resources/agent_key.md", "!> **WARNING:**", ("destroy", "secret", "agent")),
    ("resources/agent_identity.md", "~> **NOTE:**", ("destroy", "config secret", "recovery")),
    ("resources/agent_identity.md", "~> **NOTE:**", ("import", "certificate_pem")),
    ("actions/rotate_agent_key.md", "~> **NOTE:**", ("apply", "rotation")),
    ("guides/certificate-rotation.md", "!> **WARNING:**", ("certificate_grace_period_hours = 0", "disconnect")),
    ("guides/secret-provider-classes.md", "~> **NOTE:**", ("fixed", "maestro/agent-cert")),
    ("guides/first-setup.md", "~> **NOTE:**", ("mount", "AWSCURRENT")),
)
CALLOUT = re.compile(r"^(?P<kind>~> \*\*NOTE:\*\*|!> \*\*WARNING:\*\*|-> \*\*Note:\*\*) (?P<text>.*(?:\n(?!\n).*)*)", re.MULTILINE)


def callouts(text: str) -> list[tuple[str, str]]:
    return [(m.group("kind"), pages.normalize(m.group("text"))) for m in CALLOUT.finditer(text)]


def test_consequences_are_called_out():
    problems = []
    for page, kind, words in REQUIRED_CALLOUTS:
        path = pages.DOCS_DIR / page
        if not path.is_file():
            problems.append(f"docs/{page} is missing")
            continue
        found = [text for k, text in callouts(path.read_text(encoding="utf-8")) if k == kind]
        if not any(all(w.lower() in text.lower() for w in words) for text in found):
            problems.append(f"docs/{page}: no {kind} callout that mentions {list(words)}")
    for path in sorted(pages.DOCS_DIR.rglob("*.md")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if re.match(r"^(~>|!>|->) ", line) and not CALLOUT.match(line):
                problems.append(f"{path.relative_to(pages.DOCS_DIR)}: callout not in the registry's form: {line[:60]}")
    assert not problems, "\n  ".join(["callout problems:", *problems])


def test_example_usage_is_the_example_file(provider_schema):
    problems = []
    documented = [(pages.DOCS_DIR / "index.md", pages.EXAMPLES_DIR / "provider" / "provider.tf")]
    documented += [(pages.page_path(kind, name), pages.example_dir(kind, name) / pages.KIND_EXAMPLE_FILES[kind])
                   for kind, name, _ in schema_objects(provider_schema)]
    for page_file, example in documented:
        if not page_file.is_file():
            continue
        if not example.is_file():
            problems.append(f"{page_file.name}: example file {example.relative_to(settings.REPO_ROOT)} is missing")
            continue
        blocks = pages.read_page(page_file).fenced_blocks("Example Usage")
        if not blocks:
            problems.append(f"{page_file.name}: no code block under '## Example Usage'")
            continue
        language, content = blocks[0]
        if content.rstrip("\n") != example.read_text(encoding="utf-8").rstrip("\n"):
            problems.append(f"{page_file.name}: the first Example Usage block is not "
                            f"{example.relative_to(settings.REPO_ROOT)} verbatim")
        if language != "terraform":
            problems.append(f"{page_file.name}: Example Usage block is ```{language}, expected ```terraform")
    assert not problems, "\n  ".join(["example usage problems:", *problems])


IMPORT_COMMAND = re.compile(r"^\s*(?:tofu|terraform) import (?P<address>\S+) (?P<id>\S+)\s*$", re.MULTILINE)


def test_import_section_shows_the_example_files(provider_schema):
    """`## Import` holds, verbatim, import-by-identity.tf (resources with an identity), an import
    block by `id` with the address and ID of import.sh, and import.sh, as tfplugindocs includes
    them; and the identity example names every attribute its identity requires."""
    identities = provider_schema.get("resource_identity_schemas") or {}
    problems = []
    for name in sorted(provider_schema.get("resource_schemas") or {}):
        page_file = pages.page_path("resource_schemas", name)
        folder = pages.example_dir("resource_schemas", name)
        if not page_file.is_file():
            continue
        page = pages.read_page(page_file)
        blocks = page.fenced_blocks("Import")
        script = folder / pages.IMPORT_SCRIPT
        if not script.is_file():
            problems.append(f"{name}: {script.relative_to(settings.REPO_ROOT)} is missing")
            continue
        shells = [content for language, content in blocks if language in ("shell", "sh", "bash")]
        if not shells or shells[0].rstrip("\n") != script.read_text(encoding="utf-8").rstrip("\n"):
            problems.append(f"{page_file.name}: the Import section's shell block is not {script.name} verbatim")
        command = IMPORT_COMMAND.search(script.read_text(encoding="utf-8"))
        if not command:
            problems.append(f"{script.relative_to(settings.REPO_ROOT)} has no `tofu import ADDRESS ID` line")
            continue
        address, import_id = command.group("address"), command.group("id").strip("'\"")
        by_id = re.compile(r'import\s*\{\s*to\s*=\s*' + re.escape(address) + r'\s*id\s*=\s*"' + re.escape(import_id) + r'"\s*\}')
        if not any(language == "terraform" and by_id.search(content) for language, content in blocks):
            problems.append(f"{page_file.name}: no import block with to = {address} and id = \"{import_id}\" "
                            "(the address and ID of import.sh)")
        identity_file = folder / pages.IMPORT_BY_IDENTITY
        if name in identities:
            if not identity_file.is_file():
                problems.append(f"{name}: {identity_file.relative_to(settings.REPO_ROOT)} is missing")
                continue
            text = identity_file.read_text(encoding="utf-8")
            if not any(language == "terraform" and content.rstrip("\n") == text.rstrip("\n") for language, content in blocks):
                problems.append(f"{page_file.name}: the Import section does not show {identity_file.name} verbatim")
            required = {n for n, a in identities[name]["attributes"].items() if a.get("required_for_import")}
            named = set(re.findall(r"^\s*([a-z_]+)\s*=", text.split("identity", 1)[-1], re.MULTILINE))
            if not re.search(rf"to\s*=\s*{re.escape(address)}\b", text) or required - named:
                problems.append(f"{identity_file.relative_to(settings.REPO_ROOT)}: import by identity must target {address} "
                                f"and set {sorted(required)}")
        elif identity_file.exists():
            problems.append(f"{identity_file.relative_to(settings.REPO_ROOT)}: {name} has no identity schema")
        if not page.section("IAM permissions").strip():
            problems.append(f"{page_file.name}: no '## IAM permissions' section")
    assert not problems, "\n  ".join(["import documentation problems:", *problems])


def test_iam_permission_policies_are_valid_json(provider_schema):
    problems = []
    for kind, name, _ in schema_objects(provider_schema):
        path = pages.page_path(kind, name)
        if kind != "resource_schemas" or not path.is_file():
            continue
        blocks = [content for language, content in pages.read_page(path).fenced_blocks("IAM permissions") if language == "json"]
        if not blocks:
            problems.append(f"{path.name}: no ```json policy under '## IAM permissions'")
            continue
        try:
            policy = json.loads(blocks[0])
        except ValueError as error:
            problems.append(f"{path.name}: IAM policy is not valid JSON: {error}")
            continue
        if policy.get("Version") != "2012-10-17" or not policy.get("Statement"):
            problems.append(f"{path.name}: IAM policy lacks Version 2012-10-17 or statements")
    assert not problems, "\n  ".join(["IAM permission problems:", *problems])


REQUIRED_GUIDES = ("architecture.md", "certificate-rotation.md", "migrating-from-modules.md",
                   "secret-provider-classes.md", "first-setup.md")


def heading_anchors(text: str) -> set[str]:
    """GitHub's and the registry's anchors of a page's headings, and its explicit <a id>s."""
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', text))
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"^#{1,6} ", line):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^a-z0-9 _-]", "", title).replace(" ", "-"))
    return anchors


def test_guides_exist_and_links_resolve():
    problems = [f"docs/guides/{guide} is missing" for guide in REQUIRED_GUIDES
                if not (pages.DOCS_DIR / "guides" / guide).is_file()]
    for page in sorted(pages.DOCS_DIR.rglob("*.md")):
        text = page.read_text(encoding="utf-8")
        if not text.startswith("---\n"):
            problems.append(f"{page.relative_to(settings.REPO_ROOT)}: no frontmatter")
        for target, anchor in re.findall(r"\]\(([^)#\s]*\.md|)(?:#([^)\s]*))?\)", text):
            if "://" in target or (not target and not anchor):
                continue
            resolved = (page.parent / target).resolve() if target else page
            if not resolved.is_file():
                problems.append(f"{page.relative_to(settings.REPO_ROOT)}: link to missing {target}")
            elif anchor and anchor not in heading_anchors(resolved.read_text(encoding="utf-8")):
                problems.append(f"{page.relative_to(settings.REPO_ROOT)}: link to {target or page.name}#{anchor}, "
                                "which has no such heading")
    assert not problems, "\n  ".join(["guide problems:", *problems])


# ---------------------------------------------------------------- version claims


@dataclass(frozen=True)
class Feature:
    """A language feature and the first release of each CLI that accepts it (None: no release
    does), from the CLIs' CHANGELOG.md and configuration decoders (read for this table:
    opentofu/opentofu v1.7.0-v1.12.6, hashicorp/terraform v1.5.0-v1.16)."""
    name: str
    tofu: str | None
    terraform: str | None
    # Lowercase phrases of a sentence that claims a version for this feature, most specific first.
    phrases: tuple[str, ...]


FEATURES = (
    # tofu: CHANGELOG 1.12.0 "import blocks now allow ... the identity argument" (#3671);
    # terraform: CHANGELOG 1.12.0 "import blocks: Now support importing a resource via a new identity attribute".
    Feature("import by identity", "1.12", "1.12", ("`identity`", "resource identity", "by identity", "identity attribute")),
    # `removed` takes `lifecycle { destroy = false }`: OpenTofu from 1.10.0 (configs/removed.go
    # gains lifecycle; 1.7-1.9 only forget and refuse a lifecycle block), Terraform from 1.7.0.
    Feature("removed with lifecycle", "1.10", "1.7", ("destroy = false", "removed")),
    # for_each in import blocks: OpenTofu 1.7.0 (#1492), Terraform 1.7.0 (#33932).
    Feature("import with for_each", "1.7", "1.7", ("for_each",)),
    # import blocks: Terraform 1.5.0; OpenTofu has them from its first release, 1.6.0.
    Feature("import block", "1.6", "1.5", ("import block", "`import` block")),
    # provider-defined functions: OpenTofu 1.7.0 (#1439), Terraform 1.8.0.
    Feature("provider functions", "1.7", "1.8", ("provider::", "function")),
    # ephemeral resources and values: OpenTofu 1.11.0 (#2834), Terraform 1.10.0.
    Feature("ephemeral resources", "1.11", "1.10", ("ephemeral",)),
    # write-only attributes: OpenTofu 1.11.0, Terraform 1.11.0.
    Feature("write-only attributes", "1.11", "1.11", ("write-only",)),
    # list resources, `terraform query` and actions: Terraform 1.14.0; no OpenTofu release (1.12.6).
    Feature("list resources", None, "1.14", ("query", "list resource", "list block")),
    Feature("actions", None, "1.14", ("action",)),
)
VERSION_CLAIM = re.compile(r"(?P<cli>OpenTofu|Terraform)\s+v?(?P<version>\d+\.\d+)(?:\.\d+)?\**\s+(?:and|or)\s+(?:later|newer)")


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def prose_sentences(text: str) -> list[tuple[str, list[str]]]:
    """Each sentence of a text's paragraphs (code blocks and headings left out), with the texts a
    claim in it may refer to for its feature: the sentence, its paragraph, the paragraph before
    (a list item's claim is often about what the sentence introducing the list names)."""
    without_code = re.sub(r"^```.*?^```\s*$", "", text, flags=re.MULTILINE | re.DOTALL)
    paragraphs = [pages.normalize(p) for p in re.split(r"\n\s*\n", without_code) if p.strip() and not p.lstrip().startswith("#")]
    found = []
    for index, paragraph in enumerate(paragraphs):
        context = [paragraph] + ([paragraphs[index - 1]] if index else [])
        found += [(sentence, [sentence, *context]) for sentence in re.split(r"(?<=[.;:])\s+(?=[A-Z(`*-])", paragraph)]
    return found


def claimed_feature(context: list[str]) -> Feature | None:
    for text in context:
        lower = text.lower()
        feature = next((f for f in FEATURES if any(p in lower for p in f.phrases)), None)
        if feature:
            return feature
    return None


def claim_problems(label: str, text: str) -> list[str]:
    problems = []
    for sentence, context in prose_sentences(text):
        for claim in VERSION_CLAIM.finditer(sentence):
            feature = claimed_feature(context)
            cli, version = claim.group("cli"), claim.group("version")
            if feature is None:
                problems.append(f"{label}: '{claim.group(0)}' names no feature of the version table: {sentence[:120]}")
                continue
            first = feature.tofu if cli == "OpenTofu" else feature.terraform
            if first is None:
                problems.append(f"{label}: '{claim.group(0)}' for {feature.name}, which no {cli} release has")
            elif _version(version) != _version(first):
                problems.append(f"{label}: '{claim.group(0)}' for {feature.name}, which {cli} has from {first}")
    return problems


def version_claim_sources() -> list[tuple[str, str]]:
    sources = [("README.md", (settings.REPO_ROOT / "README.md").read_text(encoding="utf-8"))]
    sources += [(str(p.relative_to(settings.REPO_ROOT)), p.read_text(encoding="utf-8")) for p in sorted(pages.DOCS_DIR.rglob("*.md"))]
    sources += [(str(p.relative_to(settings.REPO_ROOT)), p.read_text(encoding="utf-8"))
                for p in sorted(pages.EXAMPLES_DIR.rglob("*")) if p.is_file() and p.suffix in (".tf", ".hcl", ".md", ".sh")]
    return sources


def test_version_claims_match_the_cli_changelogs():
    """Every "OpenTofu X.Y and later" / "Terraform X.Y or later" in the README, docs and examples
    is the first release of that CLI with the feature its sentence is about."""
    problems = [p for label, text in version_claim_sources() for p in claim_problems(label, text)]
    assert not problems, "\n  ".join(["version claims the changelogs contradict:", *problems])


# What a configuration uses -> the feature; detected in examples and in docs' terraform blocks.
FEATURE_USES = (
    ("import by identity", re.compile(r"^\s*import\s*\{[^}]*?\bidentity\s*=", re.MULTILINE | re.DOTALL)),
    ("removed with lifecycle", re.compile(r"^\s*removed\s*\{.*?lifecycle\s*\{", re.MULTILINE | re.DOTALL)),
    ("import block", re.compile(r"^\s*import\s*\{", re.MULTILINE)),
    ("provider functions", re.compile(r"provider::")),
    ("ephemeral resources", re.compile(r'^\s*ephemeral\s+"', re.MULTILINE)),
)
REQUIRED_VERSION = re.compile(r'required_version\s*=\s*"(?P<constraint>[^"]+)"')


def lowest_allowed(constraint: str) -> tuple[int, ...] | None:
    """The lowest version a `>= X.Y[.Z]` (or `~> X.Y`) constraint admits."""
    match = re.search(r"(?:>=|~>)\s*(\d+\.\d+(?:\.\d+)?)", constraint)
    return _version(match.group(1)) if match else None


def test_required_version_admits_only_clis_that_accept_the_configuration():
    """An example's `required_version` is checked by OpenTofu and Terraform alike, against their
    own version: it must exclude every release of either CLI that refuses a feature the
    configuration uses."""
    problems = []
    for path in sorted(pages.EXAMPLES_DIR.rglob("*.tf")):
        text = path.read_text(encoding="utf-8")
        declared = REQUIRED_VERSION.search(text)
        folder_text = "\n".join(p.read_text(encoding="utf-8") for p in sorted(path.parent.glob("*.tf")))
        used = [name for name, pattern in FEATURE_USES if pattern.search(folder_text)]
        if declared is None:
            continue
        lowest = lowest_allowed(declared.group("constraint"))
        for name in used:
            feature = next(f for f in FEATURES if f.name == name)
            needed = max(_version(v) for v in (feature.tofu, feature.terraform) if v)
            if lowest is None or lowest < needed:
                problems.append(f"{path.relative_to(settings.REPO_ROOT)}: required_version {declared.group('constraint')!r} "
                                f"admits CLIs without {name} (needs >= {'.'.join(map(str, needed))})")
    assert not problems, "\n  ".join(["required_version problems:", *problems])



# ---------------------------------------------------------------- the self-test


def test_the_checks_report_every_kind_of_disagreement(tmp_path):
    """The page checks above against pages written wrong on purpose, so they cannot pass by
    finding nothing to compare."""
    assert claim_problems("x", "With OpenTofu 1.5 and later, an import block works.") == \
        ["x: 'OpenTofu 1.5 and later' for import block, which OpenTofu has from 1.6"]
    assert claim_problems("x", "Use a `removed` block with `destroy = false` (OpenTofu 1.7 and later).")
    assert claim_problems("x", "Needs OpenTofu 1.11 and later for ephemeral resources.") == []
    assert "names no feature" in claim_problems("x", "Works with Terraform 1.9 and later.")[0]
    assert claim_problems("x", "Steps use `removed` with `destroy = false`:\n\n- **OpenTofu 1.7 or later** has it.") == \
        ["x: 'OpenTofu 1.7 or later' for removed with lifecycle, which OpenTofu has from 1.10"]
    assert "which no OpenTofu release has" in claim_problems("x", "`terraform query` needs OpenTofu 1.12 or later.")[0]
    assert lowest_allowed(">= 1.6") == (1, 6) and lowest_allowed("~> 1.10.0") == (1, 10, 0)

    # Defaults and replacement against what a plan shows, on a page written wrong on purpose.
    block = {"attributes": {
        "name": {"type": "string", "required": True, "description": "Name."},
        "secret_name": {"type": "string", "optional": True, "computed": True, "description": "Secret. Defaults to `<name>/cert`."},
        "window": {"type": "number", "optional": True, "computed": True, "description": "Days."},
        "flag": {"type": "bool", "optional": True, "computed": True, "description": "Flag."},
        "prefix": {"type": "string", "optional": True, "computed": True, "description": "Prefix. Defaults to the provider's."},
        "kms": {"type": "string", "optional": True, "description": "Key."},
        "ghost": {"type": "string", "optional": True, "computed": True, "description": "Ghost."},
        "twice": {"type": "number", "optional": True, "computed": True, "description": "Twice. Defaults to `1`."},
        "id": {"type": "string", "computed": True, "description": "ID."},
    }}
    page_file = tmp_path / "thing.md"
    page_file.write_text("\n".join([
        "---", 'page_title: "x"', "---", "# thing (Resource)", "",
        f"## {pages.DEFAULTS_SECTION}", "",
        "Changing `name` or `secret_name` replaces the resource.", "",
        "Left out of the configuration, these optional arguments take the values below:", "",
        "- `ghost`: `x`",
        "- `twice`: `1`",
        "- `window`: `8`",
        "- `id`: `i`", "",
        "## Schema", "",
    ]) + "\n", encoding="utf-8")
    page = pages.read_page(page_file)
    assert page.documented_replacements() == {"name", "secret_name"}
    planned = {"name": "n1", "secret_name": "n1/cert", "window": 7, "flag": False, "prefix": "p/q/r", "kms": None, "twice": 1}
    problems = "\n".join(default_problems(page, {"name": "n1"}, planned, {"ghost": True}, block))
    for expected in ("`window` says it defaults to `8` (here `8`), the plan fills in `7`",
                     "`flag` states no default, but the plan fills in `false`",
                     "`ghost` says it defaults to `x`, but the plan leaves it unknown",
                     "`twice` states its default twice",
                     "`id` is listed with a default but is no optional attribute"):
        assert expected in problems, f"not reported: {expected}\n{problems}"
    for quiet in ("`secret_name`", "`prefix`", "`kms`", "`name`"):
        assert quiet not in problems, problems
    problems = "\n".join(replacement_problems(page, "thing", [["secret_name"], ["window"]], block))
    assert "changing `window` replaces thing, but the page does not say so" in problems, problems
    assert "says changing `name` replaces thing, but it does not" in problems, problems
    assert "`secret_name`" not in problems, problems
    block["attributes"]["window"]["description"] = "Days. Forces replacement."
    assert "`window`" not in "\n".join(replacement_problems(page, "thing", [["secret_name"], ["window"]], block))
    assert [k for k, _ in callouts("~> **NOTE:** Destroying it\ndisconnects.\n\ntext\n!> **WARNING:** x\n")] == \
        ["~> **NOTE:**", "!> **WARNING:**"]
    assert "disconnects" in callouts("~> **NOTE:** Destroying it\ndisconnects.\n")[0][1]


# ---------------------------------------------------------------- defaults and replacement, from the provider


def make_csr(common_name: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    request = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])).sign(key, hashes.SHA256())
    return request.public_bytes(serialization.Encoding.PEM).decode()


def make_certificate(common_name: str) -> str:
    import datetime
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now)
                   .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


RUN = "docs"  # names of this test's objects start with it, apart from every other test's
MANAGEMENT = "maestro.management"
REGIONAL = "maestro.regional"

# The required arguments of each resource and data source, and the provider block it is
# configured with: a plan of exactly this shows every default. A new required argument fails the
# test until it is added here.
MINIMAL = {
    "maestro_agent_key": (MANAGEMENT, {"cluster_id": f"{RUN}-01"}),
    "maestro_consumer": (REGIONAL, {"consumer_id": f"{RUN}-01", "csr_pem": hcl.Raw("maestro_agent_key.this.csr_pem"),
                                    "management_account_id": aws_accounts.MANAGEMENT_ACCOUNT_ID}),
    "maestro_agent_identity": (MANAGEMENT, {"cluster_id": f"{RUN}-01", "regional_account_id": aws_accounts.REGIONAL_ACCOUNT_ID,
                                            "eks_cluster_name": f"{RUN}-mc"}),
    "maestro_server_identity": (REGIONAL, {"name": f"{RUN}-server", "eks_cluster_name": f"{RUN}-rc"}),
}
DATA_MINIMAL = {"maestro_agent_binding": (REGIONAL, {"consumer_id": f"{RUN}-01"})}
# Resources these two tests do not plan, and where their markers are checked instead: a
# registration talks to Maestro, not AWS, and needs exactly one of two API blocks.
CHECKED_ELSEWHERE = {"maestro_consumer_registration": "tests/test_consumer_registration.py::test_only_a_new_name_replaces_the_registration"}
# Arguments that exclude another (a key named by `kms_key_id` or given as `kms_key_arn`): changed
# in a second plan, in place of the one they exclude. Their aliases are made in the emulator.
EXCLUSIVE = {
    "maestro_agent_identity": ("kms_key_arn", "kms_key_id", "alias/docs-identity"),
    "maestro_server_identity": ("kms_key_arn", "kms_key_id", "alias/docs-server"),
}
# Arguments the applied resources set beyond the required ones: nothing lingers in a recovery
# window, so the next test can use the names again (the server identity keeps the fixed secret
# names every test with a server uses; import by identity finds its secrets only there).
APPLIED_EXTRA = {
    "maestro_agent_key": {"force_delete_without_recovery": True},
    "maestro_server_identity": {"force_delete_without_recovery": True},
}


# A declared resource policy for a key-bearing secret (the `*secret_resource_policy` arguments).
SECRET_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{aws_accounts.MANAGEMENT_ACCOUNT_ID}:role/docs-reader"},
    "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]})


def alternatives() -> dict[str, dict[str, Any]]:
    """Another valid value for every argument of every resource, all changed in one plan after
    apply: the plan's `replace_paths` are then exactly the arguments whose change replaces it."""
    region = aws_accounts.REGION
    return {
        "maestro_agent_key": {
            "cluster_id": f"{RUN}-02", "algorithm": "ECDSA_P384", "force_delete_without_recovery": False,
            "kms_key_id": "alias/docs-other", "recovery_window_in_days": 8, "rotate_after_days": 30,
            "rotation_triggers": {"generation": "2"}, "secret_name": f"{RUN}-02/other-cert", "tags": {"docs": "2"},
            "secret_resource_policy": SECRET_POLICY},
        "maestro_consumer": {
            "consumer_id": f"{RUN}-02", "csr_pem": make_csr(f"{RUN}-02-work-agent"), "management_account_id": "111122223333",
            "topic_prefix": "sources/other/consumers", "cloudevents_client_id": f"{RUN}-02-agent",
            "certificate_grace_period_hours": 1, "tags": {"docs": "2"}},
        "maestro_agent_identity": {
            "cluster_id": f"{RUN}-02", "regional_account_id": "111122223333", "eks_cluster_name": f"{RUN}-mc2",
            "broker_region": "us-west-2", "namespace": "other", "service_account": "other-agent",
            "mqtt_cert_secret_name": f"{RUN}-02/other-cert", "config_secret_name": f"{RUN}-02/other-config",
            "certificate_pem": make_certificate(f"{RUN}-02"), "broker_endpoint": f"other-ats.iot.{region}.amazonaws.com",
            "broker_ca_pem": make_certificate("docs CA"), "recovery_window_in_days": 8, "topic_prefix": "sources/other/consumers",
            "cloudevents_client_id": f"{RUN}-02-agent", "kms_key_arn": f"arn:aws:kms:{region}:{aws_accounts.MANAGEMENT_ACCOUNT_ID}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "tags": {"docs": "2"}, "mqtt_cert_secret_resource_policy": SECRET_POLICY},
        "maestro_server_identity": {
            "name": f"{RUN}-server2", "eks_cluster_name": f"{RUN}-rc2", "algorithm": "ECDSA_P384",
            "broker_ca_pem": make_certificate("docs CA"), "certificate_grace_period_hours": 1,
            "certificate_secret_name": f"{RUN}/other-cert", "client_id_prefix": "other", "config_secret_name": f"{RUN}/other-config",
            "db_credentials_secret_arn": f"arn:aws:secretsmanager:{region}:{aws_accounts.REGIONAL_ACCOUNT_ID}:secret:{RUN}/db-AbC123",
            "force_delete_without_recovery": False,
            "kms_key_arn": f"arn:aws:kms:{region}:{aws_accounts.REGIONAL_ACCOUNT_ID}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "namespace": "other", "recovery_window_in_days": 8, "rotate_after_days": 30, "rotation_triggers": {"generation": "2"},
            "service_account": "other-server", "shared_subscription_group": "others", "subscription_type": "broadcast",
            "tags": {"docs": "2"}, "topic_prefix": "sources/maestro/others",
            "certificate_secret_resource_policy": SECRET_POLICY},
    }


def config(blocks: dict[str, tuple[str, dict[str, Any]]], data: dict[str, tuple[str, dict[str, Any]]] | None = None) -> str:
    text = [hcl.resource(kind, "this", arguments, provider=provider) for kind, (provider, arguments) in blocks.items()]
    for kind, (provider, arguments) in (data or {}).items():
        body = hcl.attributes({"provider": hcl.Raw(provider), **arguments})
        text.append(f'data "{kind}" "this" {{\n{body}\n}}\n')
    return "\n".join(text)


def shown(value: Any) -> str:
    """A planned value as a page writes it between backticks."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


DESCRIBED_DEFAULT = re.compile(r"Defaults to `([^`]*)`")


def optional_attributes(block: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: a for name, a in sorted((block.get("attributes") or {}).items()) if a.get("optional")}


def arguments_of(block: dict[str, Any]) -> list[str]:
    """The top-level arguments (attributes and blocks a configuration may set)."""
    attributes = [n for n, a in (block.get("attributes") or {}).items() if a.get("required") or a.get("optional")]
    return sorted(attributes + list(block.get("block_types") or {}))


def default_problems(page: pages.Page, arguments: dict[str, Any], planned: dict[str, Any],
                     unknown: dict[str, Any], block: dict[str, Any]) -> list[str]:
    """What the docs say each optional argument left out of `arguments` defaults to — the page's
    "Defaults and replacement" list, or a `Defaults to `x`` in the schema's description — against
    what the plan filled in (`planned`, with `unknown` its after_unknown)."""
    problems = []
    listed = page.documented_defaults()
    for path, attribute in optional_attributes(block).items():
        if path in arguments:
            continue
        at = f"{page.path.name}: `{path}`"
        described = DESCRIBED_DEFAULT.findall(attribute.get("description", ""))
        if path in listed and "Defaults to" in attribute.get("description", ""):
            problems.append(f"{at} states its default twice (the schema's description already has one)")
        value, is_unknown = planned.get(path), bool(unknown.get(path))
        literal = listed.get(path, described[-1] if described else None)
        if literal is not None:
            expected = re.sub(r"<([a-z_]+)>", lambda m: shown(planned.get(m.group(1), m.group(0))), literal)
            if is_unknown or value is None:
                problems.append(f"{at} says it defaults to `{literal}`, but the plan leaves it "
                                f"{'unknown' if is_unknown else 'null'}")
            elif shown(value) != expected:
                problems.append(f"{at} says it defaults to `{literal}` (here `{expected}`), the plan fills in `{shown(value)}`")
        elif value not in (None, {}, []) and not is_unknown and "Defaults to" not in attribute.get("description", ""):
            problems.append(f"{at} states no default, but the plan fills in `{shown(value)}`: list it under "
                            f"'## {pages.DEFAULTS_SECTION}' in its template")
    problems += [f"{page.path.name}: `{path}` is listed with a default but is no optional attribute"
                 for path in sorted(set(listed) - set(optional_attributes(block)))]
    return problems


def replacement_problems(page: pages.Page, name: str, replace_paths: list[list[Any]], block: dict[str, Any]) -> list[str]:
    """The arguments the docs say replace the resource — the page's "Changing ... replaces the
    resource." sentence, or a schema description ending `Forces replacement.` — against a plan's
    `replace_paths`, made by changing every argument at once."""
    replaced = {path[0] for path in replace_paths if path and isinstance(path[0], str)}
    marked = page.documented_replacements() | {n for n, a in (block.get("attributes") or {}).items()
                                              if a.get("description", "").rstrip().endswith("Forces replacement.")}
    return ([f"{page.path.name}: changing `{path}` replaces {name}, but the page does not say so"
             for path in sorted(replaced - marked)]
            + [f"{page.path.name}: says changing `{path}` replaces {name}, but it does not"
               for path in sorted(marked - replaced)])


def test_documented_defaults_are_what_the_provider_fills_in(provider_schema, config_workspace, management):
    """A plan of a configuration that sets only the required arguments: each optional argument's
    `Defaults to `x`` (with `<name>` standing for that argument's planned value) must be the value
    the plan shows, and an argument the plan fills in must state its default."""
    problems = [f"{name}: required argument `{path}` has no value in MINIMAL" for name, (_, arguments) in MINIMAL.items()
                for path, a in (provider_schema["resource_schemas"][name]["block"].get("attributes") or {}).items()
                if a.get("required") and path not in arguments]
    problems += [f"{name}: a resource this test does not plan" for name in provider_schema["resource_schemas"]
                 if name not in MINIMAL and name not in CHECKED_ELSEWHERE]
    assert not problems, "\n  ".join(problems)
    aws_inspect.create_eks_cluster(management, f"{RUN}-mc")
    ws = config_workspace(config(MINIMAL, DATA_MINIMAL))
    plan = ws.plan()
    for kind, blocks, prefix in (("resource_schemas", MINIMAL, ""), ("data_source_schemas", DATA_MINIMAL, "data.")):
        for name, (_, arguments) in blocks.items():
            address = f"{prefix}{name}.this"
            if prefix:
                found = [r for section in ("prior_state", "planned_values")
                         for r in (plan.plan.get(section, {}).get("values", plan.plan.get(section, {}))
                                   .get("root_module", {}).get("resources", []))
                         if r["address"] == address]
                assert found, f"{address} was not read at plan time:\n{plan.describe()}"
                planned, unknown = found[0]["values"], {}
            else:
                change = plan.resource_change(address)["change"]
                planned, unknown = change["after"], change.get("after_unknown") or {}
            problems += default_problems(pages.read_page(pages.page_path(kind, name)), arguments, planned, unknown,
                                         provider_schema[kind][name]["block"])
    assert not problems, "documented defaults disagree with the plan:\n  " + "\n  ".join(problems)


def test_documented_replacements_are_what_the_provider_replaces(provider_schema, make_workspace, provider_preamble,
                                                              management, regional):
    """After apply, one plan changes every argument of every resource: an argument the page says
    replaces the resource must be among the plan's `replace_paths`, and every one there must be
    named so. Then the resources with an identity are forgotten and planned back in through import
    blocks by identity, the form the Import sections show (OpenTofu 1.12, Terraform 1.12 and later)."""
    changed = alternatives()
    problems = [f"{name}: argument `{path}` has no alternative value" for name in provider_schema["resource_schemas"]
                if name not in CHECKED_ELSEWHERE
                for path in arguments_of(provider_schema["resource_schemas"][name]["block"])
                if path not in changed.get(name, {}) and path != EXCLUSIVE.get(name, ("", ""))[1]]
    assert not problems, "\n  ".join(problems)
    for account, clusters in ((management, (f"{RUN}-mc", f"{RUN}-mc2")), (regional, (f"{RUN}-rc", f"{RUN}-rc2"))):
        for cluster in clusters:
            aws_inspect.create_eks_cluster(account, cluster)
    # The keys `kms_key_id` names must exist: the plan looks them up (kms:DescribeKey).
    for account, alias in ((management, "alias/docs-other"), (management, "alias/docs-identity"), (regional, "alias/docs-server")):
        kms = account.client("kms")
        kms.create_alias(AliasName=alias, TargetKeyId=kms.create_key(Description=alias)["KeyMetadata"]["KeyId"])
    applied = {name: (provider, {**arguments, **APPLIED_EXTRA.get(name, {})}) for name, (provider, arguments) in MINIMAL.items()}
    ws = make_workspace("ws")
    ws.set_config(provider_preamble + "\n" + config(applied))
    ws.init()
    ws.apply()

    ws.set_config(provider_preamble + "\n" + config({name: (provider, changed[name]) for name, (provider, _) in MINIMAL.items()}))
    plan = ws.plan()
    for name in MINIMAL:
        change = plan.resource_change(f"{name}.this")["change"]
        problems += replacement_problems(pages.read_page(pages.page_path("resource_schemas", name)), name,
                                         change.get("replace_paths") or [], provider_schema["resource_schemas"][name]["block"])
    assert not problems, "documented replacements disagree with the plan:\n  " + "\n  ".join(problems) + "\n" + plan.describe()
    for name, (excluded, argument, value) in EXCLUSIVE.items():
        changed[name] = {**{k: v for k, v in changed[name].items() if k != excluded}, argument: value}
    ws.set_config(provider_preamble + "\n" + config({name: (provider, changed[name]) for name, (provider, _) in MINIMAL.items()}))
    plan = ws.plan()
    for name in EXCLUSIVE:
        change = plan.resource_change(f"{name}.this")["change"]
        problems += replacement_problems(pages.read_page(pages.page_path("resource_schemas", name)), name,
                                         change.get("replace_paths") or [], provider_schema["resource_schemas"][name]["block"])
    assert not problems, "documented replacements disagree with the plan:\n  " + "\n  ".join(problems) + "\n" + plan.describe()

    identities = provider_schema.get("resource_identity_schemas") or {}
    imports = []
    for name in sorted(n for n in MINIMAL if n in identities):
        (attribute,) = identities[name]["attributes"]
        ws.state_rm(f"{name}.this")
        imports.append(f"import {{\n  to = {name}.this\n  identity = {{\n    {attribute} = {hcl.value(applied[name][1][attribute])}\n  }}\n}}\n")
    ws.set_config(provider_preamble + "\n" + config(applied) + "\n" + "\n".join(imports))
    plan = ws.plan()
    importing = {c["address"] for c in plan.resource_changes() if c["change"].get("importing")}
    expected = {f"{n}.this" for n in MINIMAL if n in identities}
    assert importing == expected, f"import by identity planned {sorted(importing)}, expected {sorted(expected)}\n{plan.describe()}"
    ws.apply()
