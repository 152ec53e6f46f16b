"""Where the registry pages and their examples live, and a reader for what a test looks up in a page.

docs/ is written by tfplugindocs from templates/ and examples/ (see harness/provider_docs.py);
this module only reads the result: the frontmatter, the `## ` sections, their fenced code blocks,
and the hand-written "Defaults and replacement" section of a resource page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from . import settings

DOCS_DIR = settings.REPO_ROOT / "docs"
TEMPLATES_DIR = settings.REPO_ROOT / "templates"
EXAMPLES_DIR = settings.REPO_ROOT / "examples"
PROVIDER_PREFIX = f"{settings.PROVIDER_TYPE}_"

# Schema kind (as `providers schema -json` names it) -> the docs/ and examples/ subdirectory
# tfplugindocs uses for it.
KIND_DIRECTORIES = {
    "resource_schemas": "resources",
    "data_source_schemas": "data-sources",
    "ephemeral_resource_schemas": "ephemeral-resources",
    "functions": "functions",
    "list_resource_schemas": "list-resources",
    "action_schemas": "actions",
}
# The example file tfplugindocs puts under a page's Example Usage, per kind.
KIND_EXAMPLE_FILES = {
    "resource_schemas": "resource.tf",
    "data_source_schemas": "data-source.tf",
    "ephemeral_resource_schemas": "ephemeral-resource.tf",
    "functions": "function.tf",
    "list_resource_schemas": "list-resource.tfquery.hcl",
    "action_schemas": "action.tf",
}
# The import examples tfplugindocs includes in a resource's `## Import` (examples/resources/<type>/).
IMPORT_SCRIPT = "import.sh"
IMPORT_BY_IDENTITY = "import-by-identity.tf"

DEFAULTS_SECTION = "Defaults and replacement"
_DEFAULT_LINE = re.compile(r"^- `(?P<name>[a-z0-9_]+)`: `(?P<value>[^`]*)`$", re.MULTILINE)
_REPLACEMENT_SENTENCE = re.compile(r"Changing (?P<names>[^.]*?) replaces the resource\.")


def normalize(text: str) -> str:
    return " ".join(text.split())


def short_name(name: str) -> str:
    return name[len(PROVIDER_PREFIX):] if name.startswith(PROVIDER_PREFIX) else name


def page_path(kind: str, name: str) -> Path:
    return DOCS_DIR / KIND_DIRECTORIES[kind] / f"{short_name(name)}.md"


def example_dir(kind: str, name: str) -> Path:
    # Functions are named without the provider prefix; every other kind with it.
    return EXAMPLES_DIR / KIND_DIRECTORIES[kind] / name


@dataclass(frozen=True)
class Page:
    path: Path
    text: str

    @property
    def frontmatter(self) -> dict[str, str]:
        """The frontmatter's top-level `key: value` pairs (a `|-` block joined into one line)."""
        match = re.match(r"^---\n(.*?)\n---\n", self.text, re.DOTALL)
        found: dict[str, str] = {}
        key = None
        for line in (match.group(1) if match else "").splitlines():
            pair = re.match(r"^([a-z_]+):\s*(.*)$", line)
            if pair:
                key, value = pair.group(1), pair.group(2).strip()
                found[key] = "" if value == "|-" else value.strip('"')
            elif key and line.startswith("  "):
                found[key] = (found[key] + " " + line.strip()).strip()
        return found

    def _sections(self) -> list[tuple[str, list[str]]]:
        """(title, lines) of each `## ` section, headings inside code blocks left alone."""
        sections: list[tuple[str, list[str]]] = []
        fenced = False
        for line in self.text.splitlines():
            if line.startswith("```"):
                fenced = not fenced
            if not fenced and line.startswith("## "):
                sections.append((line[3:].strip(), []))
            elif sections:
                sections[-1][1].append(line)
        return sections

    def headings(self) -> list[str]:
        return [title for title, _ in self._sections()]

    def section(self, title: str) -> str:
        return "\n".join(next((lines for t, lines in self._sections() if t == title), []))

    def fenced_blocks(self, title: str) -> list[tuple[str, str]]:
        """(language, content) of each fenced code block in the `## title` section."""
        return [(m.group(1), m.group(2)) for m in
                re.finditer(r"^```(\w*)\n(.*?)^```\s*$", self.section(title), re.MULTILINE | re.DOTALL)]

    def documented_defaults(self) -> dict[str, str]:
        """`- `name`: `value`` lines of the "Defaults and replacement" section."""
        return {m.group("name"): m.group("value") for m in _DEFAULT_LINE.finditer(self.section(DEFAULTS_SECTION))}

    def documented_replacements(self) -> set[str]:
        """The arguments the "Changing `a` or `b` replaces the resource." sentence names."""
        found = _REPLACEMENT_SENTENCE.search(normalize(self.section(DEFAULTS_SECTION)))
        return set(re.findall(r"`([a-z0-9_]+)`", found.group("names"))) if found else set()


def read_page(path: Path) -> Page:
    return Page(path, path.read_text(encoding="utf-8"))
