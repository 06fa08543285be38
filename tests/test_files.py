"""Tests of `ivr.files`: the kinds of file ivr reads, a Studio definition told apart from other JSON by content.

`flow_files` (FLOW|DIR arguments) is tested beside the loader in `tests/flow/test_loader.py`; here, what Studio
definitions change about it: nothing unless asked.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ivr.errors import FlowFileError
from ivr.files import flow_files, is_studio, kind_of, stem

ROOT = Path(__file__).resolve().parents[1]
STUDIO = '{"description": "x", "states": [{"name": "Trigger", "type": "trigger"}], "initial_state": "Trigger"}'


@pytest.mark.parametrize(("name", "content", "kind"), [
    ("acme.yaml", "", "flow"),
    ("acme.yml", "", "flow"),
    ("cancel.call.yaml", "", "script"),
    ("rec.expect.yml", "", "sidecar"),
    ("acme.json", STUDIO, "studio"),
    ("ACME.JSON", STUDIO, "studio"),
    ("acme.studio.json", '{\n  "initial_state" : "Trigger",\n  "states" : []\n}', "studio"),
    # not valid JSON, but plainly meant as Studio: the Studio reader reports its syntax error with a line
    ("broken.json", '{"states": [{"name": "a",}], "initial_state": "a"}', "studio"),
    ("schema.json", '{"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"}', None),
    ("list.json", '[{"states": [], "initial_state": "a"}]', None),
    ("nested.json", '{"definition": {"states": [], "initial_state": "a"}}', None),
    ("half.json", '{"states": [], "start": "a"}', None),
    # no initial_state, but states with transitions: a Studio export (the legacy format has none)
    ("legacy.json", '{"states": [{"type": "InitialState", "sid": "FF0", "transitions": []}]}', "studio"),
    ("other-machine.json", '{"states": {"idle": {"transitions": []}}}', None),
    ("broken-other.json", '{"a": [1,}', None),
    ("empty.json", "", None),
    ("acme.json.bak", STUDIO, None),
    ("notes.txt", STUDIO, None),
])
def test_kind_of(tmp_path: Path, name: str, content: str, kind: str | None) -> None:
    path = tmp_path / name
    path.write_text(content, "utf-8")
    assert kind_of(path) == kind
    assert kind_of(str(path)) == kind
    # by name alone (pytest's collection): a JSON file is never read, so never a Studio definition
    assert kind_of(path, by_content=False) == (None if kind == "studio" else kind)


def test_a_json_file_that_cannot_be_read_is_no_kind(tmp_path: Path) -> None:
    (tmp_path / "latin1.json").write_bytes(b'{"states": [], "initial_state": "\xe9"}')
    (tmp_path / "dir.json").mkdir()
    assert [kind_of(tmp_path / n) for n in ("latin1.json", "dir.json", "missing.json")] == [None, None, None]


def test_is_studio_on_text() -> None:
    assert is_studio(STUDIO)
    assert not is_studio('{"states": {}}')
    assert not is_studio("[" * 100_000 + "]" * 100_000)  # no keys: never parsed


@pytest.mark.parametrize(("name", "expected"), [("acme.json", "acme"), ("acme.studio.json", "acme.studio"),
                                                ("acme.yaml", "acme"), ("x.call.yaml", "x")])
def test_stem(name: str, expected: str) -> None:
    assert stem(name) == expected


def test_flow_files_leaves_json_out_unless_asked(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text("")
    (tmp_path / "a.json").write_text(STUDIO)
    (tmp_path / "schema.json").write_text('{"type": "object"}')
    assert list(flow_files([tmp_path])) == [tmp_path / "b.yaml"]
    assert list(flow_files([tmp_path], studio=True)) == [tmp_path / "a.json", tmp_path / "b.yaml"]


def test_a_directory_of_other_json_still_holds_no_flows(tmp_path: Path) -> None:
    (tmp_path / "schema.json").write_text('{"type": "object"}')
    message = f"{tmp_path}: directory holds no flow files (*.yaml, other than *.call.yaml scripts and *.expect.yaml " \
              "sidecars)"
    with pytest.raises(FlowFileError, match=f"^{re.escape(message)}$"):
        list(flow_files([tmp_path]))
    with pytest.raises(FlowFileError, match=re.escape("sidecars, nor Studio definitions (*.json))")):
        list(flow_files([tmp_path], studio=True))


@pytest.mark.parametrize("folder", ["flows", "malformed"])
def test_the_example_studio_files_are_recognised(folder: str) -> None:
    found = sorted((ROOT / "tests" / "studio" / folder).glob("*.json"))
    assert found
    assert {p.name: kind_of(p) for p in found} == {p.name: "studio" for p in found}
