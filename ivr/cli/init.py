"""`ivr init [DIR]`: a new project a user owns, ready to prove and test out of the box. Base install.

It writes an example flow (fair: its guarantee holds, `ivr check` finds nothing) with the flow format's JSON Schema
beside it for editors, call scripts and a Python test that pass against the real app, pytest settings naming the
flows, a `.gitignore`, and READMEs for the project and for recorded calls. The files are package data under
`ivr/cli/templates/project/`, each named as written but for three rules: a `.tmpl` suffix is dropped (so that no
tool of this repository reads a template as a flow, a script or a test), a leading `dot-` becomes `.` (wheels
keep no dotfiles through the package-data glob), and `__NAME__`, in names and text, becomes the flow's name.
The schema is written from the installed ivr, so it matches the version that checks the flow.
"""

from __future__ import annotations

import json
import re
import shlex
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

import click

from ivr.cli.graph import flow_schema
from ivr.errors import UsageError

PLACEHOLDER = "__NAME__"
#: the same rule as the flow model's `name` (a flow's name is also its webhook path, /voice/NAME)
FLOW_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
SCHEMA = "flows/flow.schema.json"


def flow_name_for(directory: Path) -> str:
    """A valid flow name from a directory's name: lower case, runs of other characters as one '-'
    (`My Line!` -> `my-line`); `line` when nothing is left."""
    name = re.sub(r"[^a-z0-9_-]+", "-", directory.resolve().name.lower()).strip("-_")
    return name or "line"


def _templates() -> Traversable:
    return files("ivr.cli").joinpath("templates", "project")


def _walk(folder: Traversable, prefix: str = "") -> list[tuple[str, Traversable]]:
    found: list[tuple[str, Traversable]] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            if entry.name != "__pycache__":
                found += _walk(entry, f"{prefix}{entry.name}/")
        else:
            found.append((prefix + entry.name, entry))
    return found


def _target(relative: str, name: str) -> str:
    parts = relative.removesuffix(".tmpl").split("/")
    parts[-1] = "." + parts[-1].removeprefix("dot-") if parts[-1].startswith("dot-") else parts[-1]
    return "/".join(parts).replace(PLACEHOLDER, name)


def project_files(name: str) -> dict[str, str]:
    """Relative path -> text of every file `ivr init` writes for a flow named `name`."""
    written = {_target(relative, name): entry.read_text("utf-8").replace(PLACEHOLDER, name)
               for relative, entry in _walk(_templates())}
    written[SCHEMA] = json.dumps(flow_schema(), indent=2) + "\n"
    return dict(sorted(written.items()))


def init_project(directory: Path, name: str, *, force: bool = False) -> list[str]:
    """Write the project into `directory` (created if missing) and return the relative paths written. Refuses, with
    the list, when any of them exists, unless `force`."""
    if not FLOW_NAME.match(name):
        raise UsageError(f"--name {name!r} is not a valid flow name: use letters, digits, '_' and '-' (it is also "
                         f"the webhook path, /voice/NAME)")
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory}: not a directory")
    texts = project_files(name)
    existing = [path for path in texts if (directory / path).exists()]
    if existing and not force:
        listed = "".join(f"\n  {directory / path}" for path in existing)
        raise UsageError(f"{directory}: {len(existing)} file(s) ivr init writes exist already; nothing was written. "
                         f"Choose another directory, or overwrite them with --force:{listed}")
    for path, text in texts.items():
        target = directory / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, "utf-8")
    return list(texts)


@click.command("init")
@click.argument("directory", metavar="[DIR]", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", default=None, metavar="NAME",
              help="the example flow's name (default: DIR's name, as letters, digits, '_' and '-')")
@click.option("--force", is_flag=True, help="overwrite files that exist already")
def init_cmd(directory: Path, name: str | None, force: bool) -> None:
    """Start a project in DIR (default: here): an example flow and its schema, call scripts, pytest settings."""
    name = name if name is not None else flow_name_for(directory)
    written = init_project(directory, name, force=force)
    click.echo(f"ivr init: wrote a project for the flow {name!r} in {directory}:")
    for path in written:
        click.echo(f"  {path}")
    steps = [] if directory.resolve() == Path.cwd().resolve() else [(f"cd {shlex.quote(str(directory))}", "")]
    steps += [("ivr check flows", "prove the flow's guarantee"),
              (f"ivr call flows/{name}.yaml", "be the caller in the terminal"),
              (f"ivr graph flows/{name}.yaml", "draw the flow"),
              ("pytest", "run the call scripts against the real app (ivrkit[testing] and pytest)"),
              ("ivr serve flows", "the line itself, for Twilio (ivrkit[line])")]
    width = max(len(command) for command, why in steps if why)
    click.echo("Next:")
    for command, why in steps:
        click.echo(f"  {command:<{width}}  # {why}" if why else f"  {command}")
