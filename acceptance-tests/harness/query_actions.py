"""HashiCorp Terraform's list blocks and actions, run in a TofuWorkspace: `terraform query`
(list blocks in `*.tfquery.hcl` files), the configuration `query -generate-config-out` writes,
and `terraform apply -invoke=action.<type>.<name>`.

Only Terraform has them (1.14 and later). OpenTofu 1.12.6 carries the protocol messages
(ListResource, InvokeAction) but no CLI for them: `tofu init` refuses an `action` block
("Blocks of type "action" are not expected here"), there is no `tofu query`, and `tofu apply`
has no `-invoke` flag (checked by hand against the pinned binary). Tests that need them skip
under OpenTofu with `UNSUPPORTED_REASON`.

Everything still runs through `TofuWorkspace.run`, so each command gets its TF_LOG=trace log
and its output files under artifacts/, which the leak check scans like any other.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import hcl, settings
from .tofu_workspace import TofuResult, TofuWorkspace

UNSUPPORTED_REASON = (
    "OpenTofu 1.12.6 has no list blocks or actions: no `tofu query` command, `action` blocks are "
    "refused by `tofu init` and `tofu apply` has no -invoke flag (run with MAESTRO_TEST_CLI=terraform)")


def cli_supports_query_and_actions() -> bool:
    try:
        return settings.cli().is_terraform
    except ValueError:
        return False  # the `cli` fixture reports the bad MAESTRO_TEST_CLI


# ---------------------------------------------------------------- configuration


def list_block(resource_type: str, name: str, provider: str, config: dict[str, Any],
               include_resource: bool = True, limit: int | None = None) -> str:
    lines = [f'list "{resource_type}" "{name}" {{', f"  provider = {provider}",
             f"  include_resource = {hcl.value(include_resource)}"]
    if limit is not None:
        lines.append(f"  limit = {limit}")
    lines += ["  config {", hcl.attributes(config, indent="    "), "  }", "}"]
    return "\n".join(line for line in lines if line.strip()) + "\n"


def action_block(action_type: str, name: str, provider: str, config: dict[str, Any]) -> str:
    return (f'action "{action_type}" "{name}" {{\n  provider = {provider}\n'
            f"  config {{\n{hcl.attributes(config, indent='    ')}\n  }}\n}}\n")


def write_query(ws: TofuWorkspace, *blocks: str, name: str = "find") -> Path:
    """Replaces `<name>.tfquery.hcl`; `terraform query` reads every such file in the workspace."""
    return ws.write_file(f"{name}.tfquery.hcl", "\n".join(blocks))


# ---------------------------------------------------------------- terraform query


@dataclass
class Found:
    """One `list_resource_found` message of `terraform query -json`."""
    address: str            # list.<type>.<name>
    resource_type: str
    display_name: str
    identity: dict[str, Any]
    resource_object: dict[str, Any] | None


@dataclass
class QueryResult:
    result: TofuResult
    messages: list[dict[str, Any]]

    @property
    def found(self) -> list[Found]:
        return [Found(m["list_resource_found"]["address"], m["list_resource_found"]["resource_type"],
                      m["list_resource_found"].get("display_name", ""), m["list_resource_found"].get("identity") or {},
                      m["list_resource_found"].get("resource_object"))
                for m in self.messages if m.get("type") == "list_resource_found"]

    def found_by(self, address: str) -> list[Found]:
        return [f for f in self.found if f.address == address]

    def totals(self) -> dict[str, int]:
        return {m["list_complete"]["address"]: m["list_complete"]["total"]
                for m in self.messages if m.get("type") == "list_complete"}

    def diagnostics(self) -> list[dict[str, Any]]:
        return [m["diagnostic"] for m in self.messages if m.get("type") == "diagnostic"]


def query(ws: TofuWorkspace, *extra: str) -> QueryResult:
    """`terraform query -json`: one JSON message per line (version, list_start,
    list_resource_found, list_complete, diagnostic)."""
    result = ws.run("query", "-no-color", "-json", *extra)
    messages = [json.loads(line) for line in result.stdout.splitlines() if line.strip().startswith("{")]
    return QueryResult(result, messages)


def generate_config(ws: TofuWorkspace, file_name: str = "generated.tf") -> GeneratedConfig:
    """`terraform query -generate-config-out=FILE`: an import block and a resource block for
    every result that carries its resource object."""
    ws.run("query", "-no-color", f"-generate-config-out={file_name}")
    return GeneratedConfig.read(ws.root / file_name)


# ---------------------------------------------------------------- actions


def invoke(ws: TofuWorkspace, address: str, *extra: str) -> TofuResult:
    """Runs only the action at `address` (`action.<type>.<name>`), nothing the configuration plans."""
    return ws.run("apply", "-auto-approve", "-input=false", "-no-color", f"-invoke={address}", *extra)


# ---------------------------------------------------------------- the generated configuration


@dataclass
class GeneratedBlock:
    kind: str                       # "resource" or "import"
    labels: tuple[str, ...]
    body: dict[str, Any]
    span: tuple[int, int]           # character offsets of the block in the file

    @property
    def address(self) -> str:
        return ".".join(self.labels)


@dataclass(frozen=True)
class Expression:
    """A value written as an expression rather than a literal (`maestro.regional`, jsonencode(...))."""
    text: str


@dataclass
class GeneratedConfig:
    """What `-generate-config-out` wrote, read back: Terraform writes one `name = value` per line,
    object values as nested `{ ... }` lines, multi-line strings as heredocs. Literals (strings,
    numbers, bools, null) become Python values, anything else an `Expression`."""
    path: Path
    text: str
    blocks: list[GeneratedBlock] = field(default_factory=list)

    @classmethod
    def read(cls, path: Path) -> GeneratedConfig:
        text = path.read_text(encoding="utf-8")
        return cls(path, text, _parse_blocks(text))

    @property
    def resources(self) -> dict[str, GeneratedBlock]:
        return {b.address: b for b in self.blocks if b.kind == "resource"}

    @property
    def imports(self) -> list[GeneratedBlock]:
        return [b for b in self.blocks if b.kind == "import"]

    def import_for(self, address: str) -> GeneratedBlock:
        matching = [b for b in self.imports if b.body.get("to") == Expression(address)]
        assert len(matching) == 1, f"{len(matching)} import blocks for {address} in {self.path}:\n{self.text}"
        return matching[0]

    def fill_in(self, address: str, **values: Any) -> None:
        """Sets attributes of one generated resource block (the ones import could not recover),
        replacing their generated lines, and writes the file back."""
        block = self.resources[address]
        start, end = block.span
        body = self.text[start:end]
        for name, item in values.items():
            line = f"  {name} = {hcl.value(item)}"
            pattern = re.compile(rf"^  {re.escape(name)}\s*=.*$", re.MULTILINE)
            if pattern.search(body):
                body = pattern.sub(lambda _: line, body, count=1)
            else:
                body = body.rstrip()[:-1].rstrip() + "\n" + line + "\n}"
        self.text = self.text[:start] + body + self.text[end:]
        self.path.write_text(self.text, encoding="utf-8")
        self.blocks = _parse_blocks(self.text)


_BLOCK_START = re.compile(r'^(resource|import|data|list)((?:\s+"[^"]*")*)\s*\{\s*$')
_ATTRIBUTE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(.*?)\s*$")
_HEREDOC = re.compile(r"^<<(-?)([A-Za-z_][A-Za-z0-9_]*)$")


def _literal(text: str) -> Any:
    if text == "null":
        return None
    if text in ("true", "false"):
        return text == "true"
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return json.loads(text)
    if text.startswith('"') and text.endswith('"'):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return Expression(text)


def _depth(text: str) -> int:
    """Net bracket depth of a line, outside quoted strings."""
    depth, quoted, escaped = 0, False, False
    for char in text:
        if quoted:
            escaped = not escaped and char == "\\"
            if char == '"' and not escaped:
                quoted = False
            continue
        if char == '"':
            quoted = True
        elif char in "{[(":
            depth += 1
        elif char in "}])":
            depth -= 1
    return depth


def _parse_body(lines: list[str]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    i = 0
    while i < len(lines):
        line = lines[i]
        match = _ATTRIBUTE.match(line)
        if not match:
            i += 1
            continue
        name, rest = match.groups()
        heredoc = _HEREDOC.match(rest)
        if heredoc:
            indented, marker = heredoc.groups()
            j = i + 1
            while j < len(lines) and lines[j].strip() != marker:
                j += 1
            content = lines[i + 1:j]
            if indented:
                margin = min((len(x) - len(x.lstrip()) for x in content if x.strip()), default=0)
                content = [x[margin:] for x in content]
            body[name] = "\n".join(content) + "\n"
            i = j + 1
        elif rest == "{":
            j, depth = i + 1, 1
            while j < len(lines) and depth > 0:
                depth += _depth(lines[j])
                j += 1
            body[name] = _parse_body(lines[i + 1:j - 1])
            i = j
        elif _depth(rest) > 0:
            j, depth = i + 1, _depth(rest)
            while j < len(lines) and depth > 0:
                depth += _depth(lines[j])
                j += 1
            body[name] = Expression("\n".join([rest, *lines[i + 1:j]]))
            i = j
        else:
            body[name] = _literal(rest)
            i += 1
    return body


def _parse_blocks(text: str) -> list[GeneratedBlock]:
    blocks = []
    lines = text.splitlines(keepends=True)
    offset, i = 0, 0
    offsets = []
    for line in lines:
        offsets.append(offset)
        offset += len(line)
    while i < len(lines):
        match = _BLOCK_START.match(lines[i].rstrip("\n"))
        if not match:
            i += 1
            continue
        kind, labels = match.group(1), tuple(re.findall(r'"([^"]*)"', match.group(2)))
        j = i + 1
        while j < len(lines) and lines[j].rstrip("\n") != "}":
            j += 1
        body = _parse_body([x.rstrip("\n") for x in lines[i + 1:j]])
        end = offsets[j] + len(lines[j].rstrip("\n")) if j < len(lines) else len(text)
        blocks.append(GeneratedBlock(kind, labels, body, (offsets[i], end)))
        i = j + 1
    return blocks
