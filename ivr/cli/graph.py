"""`ivr graph` and `ivr schema`: a flow drawn (Mermaid or Graphviz DOT, cancel paths in red), and the JSON
Schema of flow files that editors use. Base install.
"""

from __future__ import annotations

import json
from typing import Any

import click

from ivr.flow.loader import load_flow
from ivr.flow.model import Flow
from ivr.proof.draw import dot, mermaid


@click.command("graph")
@click.argument("flow_file", metavar="FLOW")
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid", show_default=True)
def graph_cmd(flow_file: str, fmt: str) -> None:
    """Draw FLOW as a Mermaid or Graphviz graph, the paths of a caller asking to cancel in red."""
    flow, _ = load_flow(flow_file)
    click.echo(mermaid(flow) if fmt == "mermaid" else dot(flow), nl=False)


@click.command("schema")
def schema_cmd() -> None:
    """Print the flow files' JSON Schema (editors use it to autocomplete and underline mistakes)."""
    click.echo(json.dumps(flow_schema(), indent=2))


def flow_schema() -> dict[str, Any]:
    schema = Flow.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "ivr flow"
    return schema
