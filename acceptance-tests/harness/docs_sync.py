"""Brings the reference lines of the registry pages in docs/ to the provider's schema, in place:
each documented attribute's flags and description are rewritten from the schema, attributes
the schema lacks are dropped, and new ones are appended to their section. Prose, examples and
the other sections are left alone; `tests/test_docs.py` then checks the result.

    python -m harness.docs_sync <schema.json>     # from `terraform providers schema -json`
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from . import registry_docs as rd

# The flags beyond the schema's that a page may carry and that the sync keeps.
KEPT_FLAGS = ("Forces replacement",)


def entries(kind: str, body: dict) -> dict[str, rd.SchemaEntry]:
    if kind == "functions":
        found = {}
        for p in list(body.get("parameters") or []) + ([body["variadic_parameter"]] if body.get("variadic_parameter") else []):
            found[p["name"]] = rd.SchemaEntry(p["name"], "parameter", True, False, False, rd.type_label(p["type"]), p.get("description", ""))
        return found
    return rd.schema_entries(body["block"])


def line_for(name: str, entry: rd.SchemaEntry, kept: list[str]) -> str:
    flags = [entry.type or ""] if entry.kind == "parameter" else rd.expected_flags(entry)
    if entry.sensitive:
        flags.append("Sensitive")
    flags += [f for f in kept if f in KEPT_FLAGS]
    return f"- `{name.split('.')[-1]}` ({', '.join(flags)}) {' '.join(entry.description.split())}"


def sync_page(path: Path, expected: dict[str, rd.SchemaEntry]) -> bool:
    page = rd.read_page(path)
    lines = page.text.splitlines()
    drop: set[int] = set()
    for name, documented in page.entries.items():
        index = documented.line - 1
        if name in expected:
            lines[index] = line_for(name, expected[name], documented.flags)
        else:
            drop.add(index)
    missing = [n for n in expected if n not in page.entries and "." not in n]
    for name in missing:
        entry = expected[name]
        section = "Argument Reference" if entry.kind == "parameter" else rd.expected_section(entry)
        heading = next((i for i, l in enumerate(lines) if l.strip() == f"## {section}"), None)
        if heading is None:
            lines += ["", f"## {section}", ""]
            heading = len(lines) - 2
        # After the section's last reference line (before any prose that follows the list).
        end = heading + 1
        last_entry = None
        while end < len(lines) and not lines[end].startswith("## ") and not lines[end].startswith("### "):
            if lines[end].startswith("- `"):
                last_entry = end
            end += 1
        end = last_entry + 1 if last_entry is not None else heading + 2
        lines.insert(end, line_for(name, entry, []))
        drop = {i + 1 if i >= end else i for i in drop}
    text = "\n".join(l for i, l in enumerate(lines) if i not in drop) + "\n"
    if text != page.text:
        path.write_text(text, encoding="utf-8")
        return True
    return False


def main(schema_path: str) -> int:
    schemas = json.loads(Path(schema_path).read_text())
    provider = next(iter(schemas["provider_schemas"].values())) if "provider_schemas" in schemas else next(iter(schemas.values()))
    changed = []
    for kind in rd.KIND_DIRECTORIES:
        for name, body in sorted((provider.get(kind) or {}).items()):
            path = rd.page_path(kind, name)
            if path.exists() and sync_page(path, entries(kind, body)):
                changed.append(str(path))
            elif not path.exists():
                print(f"no page for {kind} {name}: write {path}", file=sys.stderr)
    print("\n".join(changed) or "nothing to change")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
