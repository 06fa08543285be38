"""The plugin's fixtures as this project's own tests use them; the first test is the README's example."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ivr.testing.sim import Call


def test_cancel_by_keypad(ivr_call: Callable[..., Call]) -> None:
    call = ivr_call("acme")  # a call to the real app, signatures checked, on a fresh SQLite store
    call.say("cancel")
    call.press("12345678")
    assert "fifty percent off" in call.prompt
    call.press("9")
    call.press("1")
    assert call.outcome == "cancelled"
    assert call.turns <= 4


@pytest.mark.ivr_flows("flows/gym.yaml")
def test_a_marker_chooses_the_flows(ivr_call: Callable[..., Call]) -> None:
    assert ivr_call("gym").node is not None
    assert ivr_call("acme").errors == ["11200: http://localhost/voice/acme answered HTTP 404"]
