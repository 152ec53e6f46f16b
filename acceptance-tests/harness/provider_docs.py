"""docs/ as tfplugindocs (hashicorp/terraform-plugin-docs, pinned in scripts/install-test-tools.sh)
generates it: from the schema JSON a real CLI prints for the built provider, our templates/ and
our examples/. No Go provider is built: `--providers-schema` hands tfplugindocs that JSON.

    python -m harness.provider_docs write --cli BINARY --provider BINARY   # rewrite docs/
    python -m harness.provider_docs check --cli BINARY --provider BINARY   # exit 1 on any difference

scripts/docs runs `write` with Terraform, the CLI that reports every kind (OpenTofu 1.12 leaves
list resources and actions out of `providers schema -json`); tests/test_docs.py runs the check.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from . import doc_pages, hcl, settings
from .provider_install import ProviderMirror
from .tofu_workspace import TofuWorkspace

TFPLUGINDOCS_VERSION = "0.25.0"
# tfplugindocs finds the provider in the schema JSON under its short name (or under
# registry.terraform.io/hashicorp/<name>), not under our source address.
PROVIDER_NAME = settings.PROVIDER_TYPE
RENDERED_PROVIDER_NAME = f"terraform-provider-{settings.PROVIDER_TYPE}"


class DocsToolError(RuntimeError):
    pass


def tfplugindocs() -> Path:
    configured = os.environ.get("TFPLUGINDOCS")
    cache = Path(os.environ.get("TPM_CACHE", Path.home() / ".cache" / "terraform-provider-maestro"))
    binary = Path(configured) if configured else cache / "bin" / f"tfplugindocs-{TFPLUGINDOCS_VERSION}"
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        raise DocsToolError(f"tfplugindocs not found at {binary}: run `scripts/install-test-tools.sh tfplugindocs` "
                            "or set TFPLUGINDOCS")
    return binary


def cli_schema(cli: Path, provider_binary: Path, work: Path) -> dict[str, Any]:
    """Our provider's entry of `<cli> providers schema -json`, after an `init` that installs the
    binary from a filesystem mirror, as the acceptance tests install it."""
    mirror = ProviderMirror(work / "provider")
    mirror.install(provider_binary)
    mirror.write_cli_config()
    workspace = TofuWorkspace(work / "schema", cli, mirror.cli_config)
    workspace.set_config(hcl.terraform_block())
    workspace.init()
    schemas = workspace.providers_schema()["provider_schemas"]
    if settings.PROVIDER_SOURCE not in schemas:
        raise DocsToolError(f"`providers schema -json` has providers {sorted(schemas)}, not {settings.PROVIDER_SOURCE}")
    return schemas[settings.PROVIDER_SOURCE]


def write_schema_file(provider_schema: dict[str, Any], path: Path) -> Path:
    path.write_text(json.dumps({"format_version": "1.0", "provider_schemas": {PROVIDER_NAME: provider_schema}}),
                    encoding="utf-8")
    return path


def _run(arguments: list[str]) -> str:
    completed = subprocess.run([str(tfplugindocs()), *arguments], capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise DocsToolError(f"tfplugindocs {arguments[0]} failed ({completed.returncode}):\n"
                            f"{completed.stdout[-4000:]}\n{completed.stderr[-4000:]}")
    return completed.stdout + completed.stderr


def generate(provider_schema: dict[str, Any], work: Path, left_out: tuple[str, ...] = ()) -> Path:
    """`tfplugindocs generate` into a scratch provider directory; returns the docs/ it wrote.

    `left_out` names docs/ subdirectories (kinds) whose templates are not handed over: a CLI that
    does not report a kind gives tfplugindocs no schema to render its templates with."""
    provider_dir = work / "provider-dir"
    shutil.rmtree(provider_dir, ignore_errors=True)
    provider_dir.mkdir(parents=True)
    shutil.copytree(doc_pages.TEMPLATES_DIR, provider_dir / "templates",
                    ignore=lambda directory, names: [n for n in names if Path(directory) == doc_pages.TEMPLATES_DIR
                                                     and n in left_out])
    (provider_dir / "examples").symlink_to(doc_pages.EXAMPLES_DIR)
    schema_file = write_schema_file(provider_schema, work / "providers-schema.json")
    _run(["generate", "--provider-dir", str(provider_dir), "--providers-schema", str(schema_file),
          "--provider-name", PROVIDER_NAME, "--rendered-provider-name", RENDERED_PROVIDER_NAME,
          "--website-source-dir", "templates", "--examples-dir", "examples", "--rendered-website-dir", "docs",
          "--website-temp-dir", str(work / "website-tmp")])
    return provider_dir / "docs"


def validate(provider_schema: dict[str, Any], docs_dir: Path, work: Path) -> str:
    """`tfplugindocs validate` of `docs_dir` (directory layout, frontmatter, a page per schema
    object and none without one)."""
    provider_dir = work / "validate-dir"
    shutil.rmtree(provider_dir, ignore_errors=True)
    provider_dir.mkdir(parents=True)
    shutil.copytree(docs_dir, provider_dir / "docs")
    schema_file = write_schema_file(provider_schema, work / "validate-schema.json")
    return _run(["validate", "--provider-dir", str(provider_dir), "--providers-schema", str(schema_file),
                 "--provider-name", PROVIDER_NAME])


def differences(generated: Path, docs: Path, left_out: tuple[str, ...] = ()) -> list[str]:
    """Every page that differs between a fresh generate and docs/, with its first differing line."""
    def pages(root: Path) -> set[Path]:
        return {p.relative_to(root) for p in root.rglob("*") if p.is_file() and p.relative_to(root).parts[0] not in left_out}
    fresh, committed = pages(generated), pages(docs)
    problems = [f"docs/{p}: tfplugindocs does not generate it" for p in sorted(committed - fresh)]
    problems += [f"docs/{p}: missing; tfplugindocs generates it" for p in sorted(fresh - committed)]
    for page in sorted(fresh & committed):
        if filecmp.cmp(generated / page, docs / page, shallow=False):
            continue
        new = (generated / page).read_text(encoding="utf-8").splitlines()
        old = (docs / page).read_text(encoding="utf-8").splitlines()
        line = next((i for i, (a, b) in enumerate(zip(new, old)) if a != b), min(len(new), len(old)))
        problems.append(f"docs/{page}:{line + 1}: differs from what tfplugindocs generates\n"
                        f"      docs/:     {old[line] if line < len(old) else '<end of file>'}\n"
                        f"      generated: {new[line] if line < len(new) else '<end of file>'}")
    return problems


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.provider_docs", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("write", "check"))
    parser.add_argument("--cli", required=True, type=Path, help="tofu or terraform binary")
    parser.add_argument("--provider", required=True, type=Path, help="the built terraform-provider-maestro")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="provider-docs-") as scratch:
        work = Path(scratch)
        schema = cli_schema(options.cli, options.provider, work)
        missing = [kind for kind in ("list_resource_schemas", "action_schemas") if kind not in schema]
        if missing:
            raise DocsToolError(f"{options.cli} leaves {missing} out of its schema JSON; generate with Terraform")
        generated = generate(schema, work)
        validate(schema, generated, work)
        problems = differences(generated, doc_pages.DOCS_DIR)
        if options.command == "check":
            print("\n".join(problems) or "docs/ is what tfplugindocs generates")
            return 1 if problems else 0
        shutil.rmtree(doc_pages.DOCS_DIR)
        shutil.copytree(generated, doc_pages.DOCS_DIR)
        print("\n".join(problems) or "docs/ was already current")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
