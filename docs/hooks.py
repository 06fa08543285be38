"""MkDocs hook: the references that drift when copied by hand are generated from the code at build time.

A page holds a marker comment, `<!-- generated: NAME -->`, on a line of its own; `on_page_markdown` replaces it
with Markdown made by `GENERATORS[NAME]`:

- `cli`: every command and group of `ivr.cli.main`, with the usage, help and options click itself prints;
- `flow-format`: a table of keys per object of the flow files' JSON Schema (what `ivr schema` prints);
- `findings`: the finding codes of `ivr check` (`ivr.proof.lint.CODES`);
- `cancel-phrasings`: the proof's built-in cancel requests (`ivr.proof.canceller.CANCEL_PHRASINGS`);
- `builtin-intents`: the built-in intents' phrases and keys (`ivr.flow.nodes.BUILTIN_INTENTS`);
- `settings`: the web app's settings and their environment variables (`ivr.line.settings.ENVIRONMENT`).

An unknown marker fails the build. Nothing here imports Flask or a speech library: `ivr.cli` loads those only
when a command runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import click

MARKER = re.compile(r"^<!-- generated: ([a-z-]+) -->$", re.MULTILINE)
WIDTH = 100


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "&#124;").replace("\n", " ")


def _commands(cmd: click.Command, ctx: click.Context) -> Iterator[tuple[click.Command, click.Context]]:
    yield cmd, ctx
    if isinstance(cmd, click.Group):
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                yield from _commands(sub, click.Context(sub, info_name=name, parent=ctx, terminal_width=WIDTH,
                                                        max_content_width=WIDTH))


def cli() -> str:
    """Each command's `--help`, as click formats it, under a heading per command."""
    from ivr.cli import main

    root = click.Context(main, info_name="ivr", terminal_width=WIDTH, max_content_width=WIDTH)
    out: list[str] = []
    for cmd, ctx in _commands(main, root):
        depth = ctx.command_path.count(" ")
        heading = "#" * min(2 + depth, 4)
        out += [f"{heading} `{ctx.command_path}`", "", "```text", cmd.get_help(ctx).rstrip(), "```", ""]
    return "\n".join(out)


def _type(schema: dict[str, Any]) -> str:
    """A JSON Schema type, as a designer reads it."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    if "enum" in schema:
        return "one of " + ", ".join(f"`{json.dumps(v)}`" for v in schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            parts = [_type(s) for s in schema[key] if s.get("type") != "null"]
            return " or ".join(dict.fromkeys(parts))  # one item, or a list of them: "text or list of text"
    kind = schema.get("type")
    if kind == "array":
        item = _type(schema.get("items", {}))
        return f"list of ({item})" if " or " in item else f"list of {item}"
    if kind == "object":
        extra = schema.get("additionalProperties")
        return f"map of name to {_type(extra)}" if isinstance(extra, dict) else "mapping"
    if kind in ("integer", "number"):
        word = "whole number" if kind == "integer" else "number"
        low, high = schema.get("minimum"), schema.get("maximum")
        return f"{word} {low} to {high}" if low is not None and high is not None else (
            f"{word} of at least {low}" if low is not None else word)
    if kind == "string" and "pattern" in schema:
        return f"text matching <code>{_cell(schema['pattern'])}</code>"
    return {"string": "text", "boolean": "true or false"}.get(str(kind), str(kind or "any"))


def _default(prop: dict[str, Any]) -> str:
    if "default" not in prop or prop["default"] in (None, [], {}, ""):
        return ""
    value = prop["default"]
    return f"`{json.dumps(value) if not isinstance(value, str) else value}`" if not isinstance(value, dict) else (
        "see the object")


def _object(name: str, schema: dict[str, Any], level: str) -> list[str]:
    out = [f"{level} {name}", ""]
    if schema.get("description"):
        out += [schema["description"], ""]
    required = set(schema.get("required", ()))
    out += ["| key | type | required / default | meaning |", "|---|---|---|---|"]
    for key, prop in schema.get("properties", {}).items():
        need = "required" if key in required else _default(prop)
        out.append(f"| `{key}` | {_cell(_type(prop))} | {_cell(need)} | {_cell(prop.get('description', ''))} |")
    return [*out, ""]


def _run(*args: str) -> str:
    """What `ivr ARGS...` prints (the command's own code, wherever it lives in ivr.cli)."""
    from click.testing import CliRunner

    from ivr.cli import main

    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    if result.exit_code != 0:
        raise RuntimeError(f"ivr {' '.join(args)} exited {result.exit_code}: {result.output}")
    return result.output


def flow_format() -> str:
    """Tables of keys: the top level of a flow file, each node type, then the objects they use."""
    schema = json.loads(_run("schema"))
    defs: dict[str, Any] = schema["$defs"]
    nodes = schema["properties"]["nodes"]["additionalProperties"]["discriminator"]["mapping"]
    node_defs = [ref.rsplit("/", 1)[-1] for ref in nodes.values()]
    out = ["## The top level", "", *_object("Flow", schema, "###")]
    out += ["## Node types", "",
            "Every node is a mapping with a `type`: " + ", ".join(
                f"[`{t}`](#{ref.rsplit('/', 1)[-1].lower()})" for t, ref in nodes.items()) + ".", ""]
    for name in node_defs:
        out += _object(name, defs[name], "###")
    out += ["## Objects used by the keys above", ""]
    for name in sorted(set(defs) - set(node_defs)):
        out += _object(name, defs[name], "###")
    return "\n".join(out)


def findings() -> str:
    from ivr.proof.lint import CODES

    rows = sorted(CODES.items(), key=lambda item: (item[1][0] != "error", item[0]))
    return "\n".join(["| code | severity | meaning |", "|---|---|---|",
                      *(f"| `{code}` | {severity} | {_cell(meaning)} |" for code, (severity, meaning) in rows)])


def cancel_phrasings() -> str:
    from ivr.proof.canceller import CANCEL_PHRASINGS

    return "\n".join(f"- \"{p}\"" for p in CANCEL_PHRASINGS)


def builtin_intents() -> str:
    from ivr.flow.nodes import BUILTIN_INTENTS

    rows = [f"| `{name}` | {_cell(', '.join(phrases))} | {' '.join(keys)} |"
            for name, (phrases, keys) in BUILTIN_INTENTS.items()]
    return "\n".join(["| intent | phrases | keys |", "|---|---|---|", *rows])


def settings() -> str:
    from ivr.line.settings import ENVIRONMENT

    rows = [f"| `{variable}` | `{name}` | {_cell(meaning)} |" for name, (variable, meaning) in ENVIRONMENT.items()]
    return "\n".join(["| variable | setting (`Settings` field) | meaning |", "|---|---|---|", *rows])


GENERATORS: dict[str, Callable[[], str]] = {
    "cli": cli,
    "flow-format": flow_format,
    "findings": findings,
    "cancel-phrasings": cancel_phrasings,
    "builtin-intents": builtin_intents,
    "settings": settings,
}


def generate(markdown: str, where: str = "<page>") -> str:
    """`markdown` with every marker replaced by what its generator makes."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in GENERATORS:
            raise ValueError(f"{where}: unknown marker <!-- generated: {name} -->; known: {sorted(GENERATORS)}")
        return GENERATORS[name]()

    return MARKER.sub(replace, markdown)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    return generate(markdown, page.file.src_uri)
