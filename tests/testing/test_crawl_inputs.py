"""What the crawler tries at a waiting verb, and how it tells states apart: read from TwiML text alone."""

from __future__ import annotations

import pytest

from ivr.proof.canceller import CANCEL_PHRASINGS
from ivr.testing.crawl_graph import ids_out, normal_url, per_call
from ivr.testing.crawl_inputs import (
    DATA_LENGTHS,
    JUNK,
    SILENCE,
    Inputs,
    Try,
    cancel_keys,
    data_lengths,
    hint_phrases,
    is_cancel_phrase,
    plan,
    sample,
    wants_data,
)
from ivr.testing.sim import Simulator
from tests.testing.test_crawl_apps import TOKEN, twiml, wsgi


@pytest.mark.parametrize(("prompt", "keys"), [
    ("For billing, say billing or press 1. To cancel your service, say cancel or press 9.", ("9",)),
    ("To confirm, you want to cancel the service on account 1 2 3. Say yes or press 1 to cancel, or say no "
     "or press 2 to keep your service.", ("1",)),
    ("To continue cancelling, say cancel or press 9.", ("9",)),
    ("If you want to cancel your order, press star.", ("*",)),
    ("Press nine to cancel.", ("9",)),
    ("Press 2 for cancellations.", ("2",)),
    ("For billing press 1. For an agent press 0.", ()),
    ("Please enter your account number, then press pound. To cancel, press 9.", ("9",)),
    ("서비스 해지는 해지라고 말씀하시거나 9번을, 상담원 연결은 상담원이라고 말씀하시거나 0번을 눌러 주세요.", ("9",)),
    ("해지하시려면 네 또는 1번을, 유지하시려면 아니요 또는 2번을 눌러 주세요.", ("1",)),
])
def test_cancel_keys_offered_by_a_prompt(prompt: str, keys: tuple[str, ...]) -> None:
    assert cancel_keys(prompt) == keys


@pytest.mark.parametrize(("hints", "phrases"), [
    ("billing, my bill , cancel", ("billing", "my bill", "cancel")),
    ("cancel, $OOV_CLASS_DIGIT_SEQUENCE, cancel", ("cancel",)),
    ("", ()),
    ("  ,  ,", ()),
])
def test_hint_phrases(hints: str, phrases: tuple[str, ...]) -> None:
    assert hint_phrases(hints) == phrases


@pytest.mark.parametrize(("phrase", "cancels"), [
    ("cancel my account", True), ("Cancellation", True), ("해지해 주세요", True), ("탈퇴", True),
    ("billing", False), ("disconnect", False),
])
def test_cancel_phrases_among_hints(phrase: str, cancels: bool) -> None:
    assert is_cancel_phrase(phrase) is cancels


@pytest.mark.parametrize(("prompt", "num_digits", "lengths"), [
    ("Enter your account number.", 8, (8,)),
    ("Please say or enter your eight digit account number, then press pound.", None, (8,)),
    ("Enter the 4-digit code.", None, (4,)),
    ("고객 번호 여덟 자리를 누르신 후 우물 정자를 눌러 주세요.", None, (8,)),
    ("Enter your member number.", None, DATA_LENGTHS),
])
def test_data_lengths(prompt: str, num_digits: int | None, lengths: tuple[int, ...]) -> None:
    assert data_lengths(prompt, num_digits) == lengths


def test_sample_numbers_are_the_proofs() -> None:
    assert [sample(n) for n in (4, 8, 12)] == ["1234", "12345678", "123456789012"]


@pytest.mark.parametrize(("url", "normal"), [
    ("http://localhost/voice/acme/gather?seq=3", "localhost/voice/acme/gather?seq"),
    ("https://x.io/menu/2?step=billing&call=CA" + "a" * 32, "x.io/menu/2?call&step=billing"),
    ("https://x.io/calls/CA" + "0f" * 16 + "/next", "x.io/calls/{id}/next"),
    ("https://x.io/s/123e4567-e89b-12d3-a456-426614174000", "x.io/s/{id}"),
    ("https://x.io/a?token=Zm9vYmFyYmF6cXV4MTIzNDU2", "x.io/a?token"),
    ("https://x.io/a?step=confirm_cancellation_step", "x.io/a?step=confirm_cancellation_step"),
])
def test_action_urls_drop_per_call_values(url: str, normal: str) -> None:
    assert normal_url(url) == normal


@pytest.mark.parametrize(("value", "mine"), [
    ("3", True), ("deadbeef01", True), ("billing", False), ("2", True), ("a1b2c3d4e5f6g7h8", True),
    ("menu_two", False),
])
def test_per_call_values(value: str, mine: bool) -> None:
    assert per_call(value) is mine


def test_ids_are_taken_out_of_prompts() -> None:
    assert ids_out("Your reference is RE" + "ab" * 16 + ". Press 1.") == "Your reference is {id}. Press 1."
    assert ids_out("You have 2 attempts left.") == "You have 2 attempts left."


def waiting_at(document: str) -> tuple[object, str]:
    """The verb the simulator waits at for a TwiML document, and what was said: the crawler's real input."""
    call = Simulator(wsgi({"/voice": lambda f: twiml(document)}), auth_token=TOKEN).call("/voice")
    return call.waiting, call.prompt


def tries(document: str, inputs: Inputs | None = None) -> tuple[list[str], list[str], list[str]]:
    waiting, prompt = waiting_at(document)
    p = plan(waiting, prompt, inputs or Inputs())
    return [str(t) for t, _ in p.tries], [str(t) for t in p.cancel], [str(t) for t in p.data]


def test_a_keypad_menu() -> None:
    every, cancel, data = tries('<Gather numDigits="1" action="/m"><Say>For sales press 1. To cancel your order, '
                                "press 9.</Say></Gather>")
    assert cancel == ["press 9"]
    assert data == []
    assert every == ["press 9", *(f"press {k}" for k in "1234567890*" if k != "9"), "silence"]  # '#' finishes


def test_a_speech_menu_tries_its_hints_and_the_proofs_phrasings() -> None:
    every, cancel, _ = tries('<Gather input="speech" action="/m" hints="billing, cancel my cable">'
                             "<Say>How can I help?</Say></Gather>")
    assert cancel == [f"say {p!r}" for p in (*CANCEL_PHRASINGS, "cancel my cable")]
    assert "say 'billing'" in every
    assert f"say {JUNK!r}" in every
    assert "silence" in every
    assert not any("press" in t for t in every)


def test_a_number_prompt_gets_sample_numbers_from_the_canceller() -> None:
    _, cancel, data = tries('<Gather numDigits="8" finishOnKey="#" action="/a"><Say>Enter your account '
                            "number.</Say></Gather>", Inputs(cancel_keys=("9",)))
    assert (cancel, data) == ([], ["press 12345678"])
    _, _, data = tries('<Gather action="/a"><Say>Please enter your member number, then press pound.</Say>'
                       "</Gather>")
    assert data == [f"press {sample(n)}#" for n in DATA_LENGTHS]


def test_a_keypad_prompt_without_a_cancel_key_leaves_the_canceller_silence() -> None:
    _, cancel, _ = tries('<Gather numDigits="1" action="/m"><Say>For sales press 1.</Say></Gather>')
    assert cancel == ["silence"]
    _, cancel, _ = tries('<Gather numDigits="1" action="/m"><Say>For sales press 1.</Say></Gather>',
                         Inputs(cancel_keys=("7",)))
    assert cancel == ["press 7"]


def test_tries_are_capped_per_state() -> None:
    waiting, prompt = waiting_at('<Gather numDigits="1" action="/m"><Say>Press 9 to cancel.</Say></Gather>')
    capped, every = plan(waiting, prompt, Inputs(max_tries=3)), plan(waiting, prompt, Inputs())
    assert [str(t) for t, _ in capped.tries] == ["press 9", "press 1", "press 2"]
    assert capped.dropped == len(every.tries) - 3
    assert every.dropped == 0


def test_a_recording_is_spoken_to() -> None:
    every, cancel, _ = tries('<Record action="/r" finishOnKey="*"/>')
    assert cancel == ["say 'I want to cancel'"]
    assert every == ["say 'I want to cancel'", "silence", "press *"]


def test_tries_print_as_a_caller_does() -> None:
    assert [str(t) for t in (Try("say", "cancel"), Try("press", "12#"), SILENCE)] == \
        ["say 'cancel'", "press 12#", "silence"]


@pytest.mark.parametrize(("prompt", "asks"), [
    ("Please enter your member number, then press pound.", True),
    ("Tell me your account number.", True),
    ("고객 번호 여덟 자리를 누르신 후 우물 정자를 눌러 주세요.", True),
    ("고객 번호 1 2 3의 서비스를 해지하시겠습니까?", False),
    ("For billing, say billing. To check your number of minutes, say minutes.", False),
])
def test_prompts_that_ask_for_a_number(prompt: str, asks: bool) -> None:
    waiting, _ = waiting_at(f'<Gather input="speech" action="/a"><Say>{prompt}</Say></Gather>')
    assert wants_data(waiting, prompt) is asks
