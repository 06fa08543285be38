"""The `ivr` group: every command module registers here, and every `IvrError` is caught in one place.

Bad input never shows a traceback: `Main.invoke` prints `error: <message>` and exits with the error's
`exit_code` (2). A property that does not hold exits 1 (`ivr check`, a failed call or replay). Each command
imports its layer's libraries only when it runs, so `ivr check` starts fast and works on the base install; a
command whose extra is missing names the `pip install 'ivrkit[...]'` to run.
"""

from __future__ import annotations

from typing import Any

import click

from ivr.cli.audit import calls_group, cancellations_group
from ivr.cli.call import call_cmd
from ivr.cli.check import check_cmd
from ivr.cli.crawl import crawl_cmd
from ivr.cli.db import db_group
from ivr.cli.graph import graph_cmd, schema_cmd
from ivr.cli.init import init_cmd
from ivr.cli.replay import replay_cmd, transcribe_cmd
from ivr.cli.serve import serve_cmd
from ivr.cli.synth import synth_cmd
from ivr.errors import IvrError


class Main(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except IvrError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=Main)
@click.version_option(package_name="ivrkit")
def main() -> None:
    """Run, prove and test phone menus (IVRs)."""


for command in (check_cmd, call_cmd, graph_cmd, schema_cmd, init_cmd, serve_cmd, calls_group,
                cancellations_group, db_group, synth_cmd, replay_cmd, transcribe_cmd, crawl_cmd):
    main.add_command(command)
