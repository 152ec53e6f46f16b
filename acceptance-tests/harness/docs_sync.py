"""Regenerates the schema-derived sections of the registry pages in docs/ from the provider's
schema JSON, in place, as tfplugindocs would: `## Schema` (with its nested schema sections), the
`### Identity Schema` of `## Import`, and a function's `## Signature` and `## Arguments`.

What the schema JSON does not carry is kept from the page: the `Defaults to `x`.` and
`Forces replacement.` markers at the end of a line (see harness/registry_docs.py) and the
hand-written descriptions of object members. Prose, examples and every other section are left
alone. A page without a Schema section gets one before `## Import`, or at its end.
`tests/test_docs.py` then checks the result, the markers against the provider's behaviour.

    python -m harness.docs_sync <schema.json>     # from `terraform providers schema -json`
    python -m harness.docs_sync --check <schema.json>   # exit 1 and list the pages it would change
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from . import registry_docs as rd


def _section_bounds(lines: list[str], title: str) -> tuple[int, int] | None:
    """[start, end) of a `## title` section (its heading included), outside code blocks."""
    start, fenced = None, False
    for index, line in enumerate(lines):
        if line.startswith("```"):
            fenced = not fenced
            continue
        if fenced or not line.startswith("## "):
            continue
        if start is not None:
            return start, index
        if line[3:].strip() == title:
            start = index
    return (start, len(lines)) if start is not None else None


def _replace_section(lines: list[str], title: str, body: list[str], before: tuple[str, ...] = ()) -> list[str]:
    """The page with its `## title` section replaced by `body` (which starts with the heading),
    or with `body` inserted before the first of the sections `before` that exists, or appended."""
    bounds = _section_bounds(lines, title)
    block = body + [""]
    if bounds:
        return lines[:bounds[0]] + block + lines[bounds[1]:]
    for following in before:
        found = _section_bounds(lines, following)
        if found:
            return lines[:found[0]] + block + lines[found[0]:]
    while lines and lines[-1] == "":
        lines = lines[:-1]
    return lines + [""] + block


def _replace_identity(lines: list[str], identity_lines: list[str]) -> list[str]:
    """Replaces the `### Identity Schema` subsection of `## Import` (the heading, its `####`
    groups and their lists), or puts it at the end of `## Import`."""
    bounds = _section_bounds(lines, "Import")
    if bounds is None:
        return lines
    start, end = bounds
    for index in range(start, end):
        if lines[index].strip() == "### Identity Schema":
            stop = index + 1
            while stop < end and (lines[stop] == "" or lines[stop].startswith("#### ") or lines[stop].startswith("- `")):
                stop += 1
            return lines[:index] + identity_lines + [""] + lines[stop:]
    tail = end
    while tail > start and lines[tail - 1] == "":
        tail -= 1
    return lines[:tail] + [""] + identity_lines + [""] + lines[end:]


def kept_from_page(page: rd.DocPage, rendered: rd.RenderedSchema) -> tuple[dict[str, str], dict[str, str]]:
    """(markers by path, notes on object members by path) as the page has them now."""
    markers, notes = {}, {}
    for path, documented in page.entries.items():
        expected = rendered.entries.get(path)
        if expected is None:
            continue
        if expected.kind == "member":
            if documented.description:
                notes[path] = documented.description
            continue
        found = rd.trailing_markers(documented.description)
        # A marker the schema's own description already ends with is not repeated.
        already = rd.trailing_markers(expected.description)
        kept = [m for m in re.findall(r"Defaults to `[^`]*`\.|Forces replacement\.", found) if m not in already]
        if rd.states_default(expected.description):
            kept = [m for m in kept if not m.startswith("Defaults to")]
        if kept:
            markers[path] = " ".join(kept)
    return markers, notes


def sync_page(path: Path, kind: str, body: dict[str, Any], identity: dict[str, Any] | None = None) -> bool:
    page = rd.read_page(path)
    lines = page.text.splitlines()
    if kind == "functions":
        name = path.stem
        lines = _replace_section(lines, "Signature", ["## Signature", "", "```text", rd.function_signature(name, body), "```"],
                                 before=("Arguments",))
        lines = _replace_section(lines, "Arguments", ["## Arguments", "", *rd.render_function_arguments(body)])
    else:
        plain = rd.render_schema(body["block"])
        markers, notes = kept_from_page(page, plain)
        rendered = rd.render_schema(body["block"], markers, notes)
        lines = _replace_section(lines, "Schema", rendered.lines, before=("Import",))
        if identity:
            lines = _replace_identity(lines, rd.render_identity(identity))
    text = "\n".join(lines).rstrip("\n") + "\n"
    text = re.sub(r"\n{3,}(?=## |<a id=)", "\n\n", text)
    if text != page.text:
        path.write_text(text, encoding="utf-8")
        return True
    return False


def provider_schema_of(schemas: dict[str, Any]) -> dict[str, Any]:
    if "provider_schemas" in schemas:
        return next(iter(schemas["provider_schemas"].values()))
    return schemas


def main(argv: list[str]) -> int:
    check = "--check" in argv
    arguments = [a for a in argv if a != "--check"]
    if len(arguments) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    provider = provider_schema_of(json.loads(Path(arguments[0]).read_text()))
    changed = []
    targets = [(rd.DOCS_DIR / "index.md", "provider", provider["provider"], None)]
    for kind in rd.KIND_DIRECTORIES:
        for name, body in sorted((provider.get(kind) or {}).items()):
            identity = (provider.get("resource_identity_schemas") or {}).get(name) if kind == "resource_schemas" else None
            targets.append((rd.page_path(kind, name), kind, body, identity))
    for path, kind, body, identity in targets:
        if not path.exists():
            print(f"no page for {kind} {path.stem}: write {path}", file=sys.stderr)
            continue
        original = path.read_text(encoding="utf-8")
        if sync_page(path, kind, body, identity):
            changed.append(str(path))
            if check:
                path.write_text(original, encoding="utf-8")
    print("\n".join(changed) or "nothing to change")
    return 1 if check and changed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
