"""The kinds of file ivr reads, told apart by name: flows, call scripts, and sidecar expectations of recordings.

Every reader asks here (`kind_of`, `flow_files`, `stem`), so a directory holding all three kinds is read the same
way by `ivr check`, `ivr serve`, the pytest plugin and `ivr replay`:

| kind    | names                          | what it is                                               |
|---------|--------------------------------|----------------------------------------------------------|
| script  | `*.call.yaml`, `*.call.yml`    | a caller's side of a call and what must happen           |
| sidecar | `*.expect.yaml`, `*.expect.yml`| what a recording beside it (same stem) must end with     |
| flow    | any other `*.yaml`, `*.yml`    | one phone line (`ivr.flow.loader`)                       |

Imports nothing of ivr but its errors: pytest's plugin uses it while collecting, before any flow is loaded.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal

from ivr.errors import FlowFileError

Kind = Literal["flow", "script", "sidecar"]
YAML_SUFFIXES = (".yaml", ".yml")
SCRIPT_SUFFIXES = (".call.yaml", ".call.yml")
SIDECAR_SUFFIXES = (".expect.yaml", ".expect.yml")
#: the suffix ivr writes for each kind (generated call scripts, `ivr init`'s files)
WRITTEN = {"script": ".call.yaml", "sidecar": ".expect.yaml", "flow": ".yaml"}


def kind_of(path: str | Path) -> Kind | None:
    """The kind of file `path` names, or None for a file ivr does not read (audio, JSON Schema, README...)."""
    name = Path(path).name.lower()
    if name.endswith(SCRIPT_SUFFIXES):
        return "script"
    if name.endswith(SIDECAR_SUFFIXES):
        return "sidecar"
    if name.endswith(YAML_SUFFIXES):
        return "flow"
    return None


def stem(path: str | Path) -> str:
    """The name without its kind's suffix: `cancel.call.yaml` -> `cancel`, `acme.yaml` -> `acme`."""
    name = Path(path).name
    for suffix in (*SCRIPT_SUFFIXES, *SIDECAR_SUFFIXES, *YAML_SUFFIXES):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def files_of(kind: Kind, directory: Path, *, recursive: bool = False) -> list[Path]:
    """The files of one kind in `directory` (and below it, when `recursive`), sorted."""
    found = directory.rglob("*") if recursive else directory.iterdir()
    return sorted(p for p in found if p.is_file() and kind_of(p) == kind)


def flow_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Expand FLOW|DIR arguments: a directory stands for the flow files directly inside it (call scripts and
    sidecars beside them are not flows). A file is taken as given: the loader says if it is not a flow."""
    for arg in paths:
        path = Path(arg)
        if path.is_dir():
            found = files_of("flow", path)
            if not found:
                raise FlowFileError(f"{path}: directory holds no flow files (*.yaml, other than *.call.yaml "
                                    "scripts and *.expect.yaml sidecars)")
            yield from found
        else:
            yield path
