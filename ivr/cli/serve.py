"""`ivr serve`: the phone line on Flask's development server, with the webhook URLs to paste into Twilio's
console and the call store it writes to. Needs `ivrkit[line]`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

import click

from ivr.cli.audit import check_database_url, sqlite_file
from ivr.cli.common import needs
from ivr.line.settings import ENVIRONMENT, PROXY_HEADERS, Settings

if TYPE_CHECKING:
    from ivr.line.app import App


def serve_settings(env: Mapping[str, str], *, database: str | None = None, public_url: str | None = None,
                   proxy_headers: Sequence[str] = (), fallback_number: str | None = None,
                   insecure: bool = False) -> Settings:
    """`Settings.from_env(env)` with the options given overriding their variables, parsed the same way. The auth
    token has no option: it would show in `ps`."""
    given = {"database_url": database, "public_url": public_url,
             "trusted_proxy_headers": ",".join(proxy_headers) or None, "fallback_number": fallback_number,
             "verify_signatures": "0" if insecure else None}
    settings = Settings.from_env({**env, **{ENVIRONMENT[k][0]: v for k, v in given.items() if v is not None}})
    check_database_url(settings.database_url)
    return settings


def serve_banner(flows: Sequence[str], database: str, settings: Settings, host: str, port: int) -> Iterator[str]:
    """What a newcomer needs on start: where it listens, what to paste into Twilio's console, where calls go."""
    local = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    base = settings.public_url or local
    yield (f"ivr: serving {len(flows)} flow{'' if len(flows) == 1 else 's'} on {local}"
           + (f" (public URL {settings.public_url})" if settings.public_url else ""))
    yield "     Flask's development server: in production, run gunicorn \"ivr.line.app:create_app()\" (see README)"
    yield "Webhooks for the Twilio console (Phone Numbers > your number > Voice Configuration):"
    width = max(len(name) for name in flows)
    for name in flows:
        yield f"  {name:<{width}}  A call comes in:      POST {base}/voice/{name}"
        yield f"  {'':<{width}}  Call status changes:  POST {base}/voice/{name}/status"
    if not settings.public_url and not settings.trusted_proxy_headers:
        yield f"  Twilio must reach these URLs. Behind a tunnel (e.g. `ngrok http {port}`), restart with"
        yield "  --public-url https://<its address>, so that signatures and audio URLs match the URL Twilio calls."
    file = sqlite_file(database)
    yield f"Call store: {database}" + (f" (the file {file.resolve()})" if file and not file.is_absolute() else "")
    if not settings.verify_signatures:
        yield ("Signatures: NOT CHECKED (--insecure-no-signatures or IVR_VERIFY_SIGNATURES=0): anyone who can reach "
               "this server can drive calls and record cancellations. Local development only.")
    elif settings.trusted_proxy_headers and not settings.public_url:
        yield ("Signatures: checked with TWILIO_AUTH_TOKEN, against the URL rebuilt from "
               + ", ".join(settings.trusted_proxy_headers))
    else:
        yield "Signatures: checked with TWILIO_AUTH_TOKEN, against the URLs above"
    if settings.fallback_number:
        yield f"Fallback:   {settings.fallback_number}, when the app cannot carry on a call"


def serve_app(flows: Sequence[str], settings: Settings, host: str, port: int) -> tuple[App, str]:
    """The app `ivr serve` runs, and its start banner. FLOWS empty: those of IVR_FLOWS."""
    needs("line", "ivr serve")
    from ivr.line.app import create_app  # Flask: only for this command

    app = create_app(list(flows) or None, settings)
    service = app.extensions["ivr"]
    return app, "\n".join(serve_banner(list(service.served), service.store.safe_url, settings, host, port))


@click.command("serve")
@click.argument("flows", nargs=-1, metavar="[FLOW|DIR]...")
@click.option("--host", default="127.0.0.1", show_default=True, help="the address to listen on (0.0.0.0: all)")
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True)
@click.option("--database", metavar="URL", help="the call store's SQLAlchemy URL  [default: IVR_DATABASE_URL, "
              "else sqlite:///ivr-calls.db]")
@click.option("--public-url", metavar="URL", help="the base URL Twilio calls (a tunnel's https address); "
              "signatures are checked against it")
@click.option("--trusted-proxy-header", "proxy_headers", multiple=True, metavar="HEADER",
              type=click.Choice(PROXY_HEADERS, case_sensitive=False),
              help="an X-Forwarded-* header (-for, -proto, -host, -port, -prefix) that ONE trusted proxy in front "
              "of the app sets (repeatable)")
@click.option("--fallback-number", metavar="NUMBER", help="where callers go when the app cannot carry on  "
              "[default: the flow's agent transfer]")
@click.option("--insecure-no-signatures", "insecure", is_flag=True,
              help="accept requests without a valid Twilio signature: local development only")
def serve_cmd(flows: tuple[str, ...], host: str, port: int, database: str | None, public_url: str | None,
              proxy_headers: tuple[str, ...], fallback_number: str | None, insecure: bool) -> None:
    """Answer Twilio's webhooks for each FLOW (files or directories; default: IVR_FLOWS) with Flask's
    development server.

    Twilio's signatures are checked with TWILIO_AUTH_TOKEN, read from the environment only (an option would
    show in `ps`). Other settings come from the IVR_* variables, which the options override. For production,
    run gunicorn "ivr.line.app:create_app()" with the same variables.
    """
    needs("line", "ivr serve")  # before the settings: on a base install, say what to install first
    settings = serve_settings(os.environ, database=database, public_url=public_url, proxy_headers=proxy_headers,
                              fallback_number=fallback_number, insecure=insecure)
    app, banner = serve_app(flows, settings, host, port)
    click.echo(banner)
    # from here on, the app's call logs (and werkzeug's request lines) go to stderr
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app.run(host=host, port=port)
