"""What a command may call: a live line by URL, or a voice app in-process, named as gunicorn and Flask name one.

    https://line.example.com/voice        a deployed line (the simulator signs and sends real HTTP)
    app.py:app                            the WSGI callable `app` of the file app.py
    myline.web:create_app()               a factory in an importable module, called with no arguments

In-process needs no server and no tunnel: the simulator calls the app as a WSGI server would, so `ivr crawl` and
`ivr call` reach a hand-written Flask or Django app straight from its source tree.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ivr.errors import UsageError

#: what requests are signed with when no token is given: an app that checks signatures refuses them (403), as it
#: should; one that does not check takes them
UNCHECKED_TOKEN = "ivr-simulator-auth-token"
#: FILE.py:NAME, or package.module:NAME, NAME optionally called: `()`
APP = re.compile(r"(?P<module>[^:]+?):(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<call>\(\))?")


def token(given: str | None = None) -> str:
    """The auth token to sign an app's requests with when it need not be the line's own: `given`, else
    TWILIO_AUTH_TOKEN, else UNCHECKED_TOKEN."""
    return given or os.environ.get("TWILIO_AUTH_TOKEN", "") or UNCHECKED_TOKEN


def is_app(text: str) -> bool:
    """Whether `text` names an in-process app rather than a URL."""
    return not re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", text) and APP.fullmatch(text) is not None


def load_app(text: str, what: str = "the app") -> Callable[..., Any]:
    """The WSGI callable `text` names (FILE.py:NAME or module:NAME, `NAME()` for a factory); a clear error when
    the file, module or name is missing, or the thing named is not callable."""
    match = APP.fullmatch(text)
    if match is None:
        raise UsageError(f"{what} {text!r}: expected a URL (https://host/path), FILE.py:NAME or module:NAME")
    module_name, name = match["module"], match["name"]
    module = _module(module_name, what, text)
    if not hasattr(module, name):
        found = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
        raise UsageError(f"{what} {text!r}: {module_name} has no {name!r}; callables there: {found[:12]}")
    app = getattr(module, name)
    if match["call"]:
        try:
            app = app()
        except Exception as exc:  # noqa: BLE001 - the user's factory failed: say so, not a traceback of ours
            raise UsageError(f"{what} {text!r}: {name}() raised {type(exc).__name__}: {exc}") from None
    if not callable(app):
        raise UsageError(f"{what} {text!r}: {name} is a {type(app).__name__}, not a WSGI app"
                         + ("" if match["call"] else " (a factory? write NAME())"))
    return app  # type: ignore[no-any-return]


def _module(module_name: str, what: str, text: str) -> Any:
    if module_name.endswith(".py"):
        path = Path(module_name)
        if not path.is_file():
            raise UsageError(f"{what} {text!r}: no such file {module_name!r}")
        spec = importlib.util.spec_from_file_location(f"ivr_app_{path.stem}", path)
        if spec is None or spec.loader is None:
            raise UsageError(f"{what} {text!r}: {module_name} cannot be imported as a Python file")
        module = importlib.util.module_from_spec(spec)
        if str(path.resolve().parent) not in sys.path:  # the app's own imports, as `python app.py` finds them
            sys.path.insert(0, str(path.resolve().parent))
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # noqa: BLE001
            raise UsageError(f"{what} {text!r}: importing {module_name} raised {type(exc).__name__}: {exc}") \
                from None
        return module
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))  # as gunicorn and flask do: modules of the current directory
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise UsageError(f"{what} {text!r}: no module {exc.name!r} (run from the project's directory, or give "
                         "FILE.py:NAME)") from None
    except Exception as exc:  # noqa: BLE001
        raise UsageError(f"{what} {text!r}: importing {module_name} raised {type(exc).__name__}: {exc}") from None
