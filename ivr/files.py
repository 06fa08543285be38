"""The kinds of file ivr reads, told apart by name (and a Studio definition by its content): flows, Twilio Studio
definitions, call scripts, and sidecar expectations of recordings.

Every reader asks here (`kind_of`, `flow_files`, `stem`), so a directory holding all three kinds is read the same
way by `ivr check`, `ivr serve`, the pytest plugin and `ivr replay`:

| kind    | names                          | what it is                                               |
|---------|--------------------------------|----------------------------------------------------------|
| script  | `*.call.yaml`, `*.call.yml`    | a caller's side of a call and what must happen           |
| sidecar | `*.expect.yaml`, `*.expect.yml`| what a recording beside it (same stem) must end with     |
| flow    | any other `*.yaml`, `*.yml`    | one phone line (`ivr.flow.loader`)                       |
| studio  | `*.json` holding a Studio flow | a Twilio Studio flow definition (`ivr.flow.studio_read`) |
|         | definition (`is_studio`)       | (any other `*.json`, a JSON Schema say, is no kind)      |

Imports nothing of ivr but its errors: pytest's plugin uses it while collecting, before any flow is loaded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal

from ivr.errors import FlowFileError

Kind = Literal["flow", "script", "sidecar", "studio"]
YAML_SUFFIXES = (".yaml", ".yml")
SCRIPT_SUFFIXES = (".call.yaml", ".call.yml")
SIDECAR_SUFFIXES = (".expect.yaml", ".expect.yml")
STUDIO_SUFFIXES = (".json",)
#: the suffix ivr writes for each kind (generated call scripts, `ivr init`'s files)
WRITTEN = {"script": ".call.yaml", "sidecar": ".expect.yaml", "flow": ".yaml", "studio": ".json"}
#: a larger *.json file is not read to tell whether it is a Studio definition (Studio allows 1,000 widgets)
STUDIO_MAX_BYTES = 16 * 1024 * 1024
_STATES, _INITIAL, _TRANSITIONS = (re.compile(rf'"{key}"\s*:') for key in ("states", "initial_state", "transitions"))


def kind_of(path: str | Path, *, by_content: bool = True) -> Kind | None:
    """The kind of file `path` names, or None for a file ivr does not read (audio, JSON Schema, README...).
    A `*.json` file is read: it is "studio" if it holds a Studio flow definition (`is_studio`); `by_content=False`
    tells by name alone (pytest's collection asks about every file of a project, and wants only scripts and
    sidecars: it must not read each JSON fixture)."""
    name = Path(path).name.lower()
    if name.endswith(SCRIPT_SUFFIXES):
        return "script"
    if name.endswith(SIDECAR_SUFFIXES):
        return "sidecar"
    if name.endswith(YAML_SUFFIXES):
        return "flow"
    if by_content and name.endswith(STUDIO_SUFFIXES) and _studio_file(Path(path)):
        return "studio"
    return None


def is_studio(text: str) -> bool:
    """Whether JSON `text` is a Twilio Studio flow definition: an object with `states` and `initial_state`, or
    with `states` that have `transitions` (an export without `initial_state`, such as the legacy 2018 format, so
    the Studio reader can say what is wrong with it). Text that is not valid JSON counts if it has those keys, so
    the Studio reader, not silence, reports its syntax error."""
    if not _STATES.search(text) or not (_INITIAL.search(text) or _TRANSITIONS.search(text)):
        return False  # most JSON files: no need to parse them
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return True
    if not isinstance(data, dict) or "states" not in data:
        return False
    states = data["states"]
    return "initial_state" in data or isinstance(states, list) and any(
        isinstance(state, dict) and "transitions" in state for state in states)


def _studio_file(path: Path) -> bool:
    try:
        if not path.is_file() or path.stat().st_size > STUDIO_MAX_BYTES:
            return False
        return is_studio(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError):
        return False


def stem(path: str | Path) -> str:
    """The name without its kind's suffix: `cancel.call.yaml` -> `cancel`, `acme.yaml` -> `acme`."""
    name = Path(path).name
    for suffix in (*SCRIPT_SUFFIXES, *SIDECAR_SUFFIXES, *YAML_SUFFIXES, *STUDIO_SUFFIXES):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def files_of(kind: Kind, directory: Path, *, recursive: bool = False) -> list[Path]:
    """The files of one kind in `directory` (and below it, when `recursive`), sorted."""
    found = directory.rglob("*") if recursive else directory.iterdir()
    return sorted(p for p in found if p.is_file() and kind_of(p) == kind)


def flow_files(paths: Iterable[str | Path], *, studio: bool = False) -> Iterator[Path]:
    """Expand FLOW|DIR arguments: a directory stands for the flow files directly inside it (call scripts and
    sidecars beside them are not flows), and with `studio` for the Studio definitions too. A file is taken as
    given: the loader says if it is not a flow."""
    for arg in paths:
        path = Path(arg)
        if path.is_dir():
            found = files_of("flow", path) if not studio else sorted(
                p for p in path.iterdir() if p.is_file() and kind_of(p) in ("flow", "studio"))
            if not found:
                studio_too = ", nor Studio definitions (*.json)" if studio else ""
                raise FlowFileError(f"{path}: directory holds no flow files (*.yaml, other than *.call.yaml "
                                    f"scripts and *.expect.yaml sidecars{studio_too})")
            yield from found
        else:
            yield path
