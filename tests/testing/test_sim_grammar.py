"""The simulator's TwiML grammar against Twilio's: every verb and noun of the voice reference is accepted where
Twilio takes it (checked against the nesting twilio-python's generated builders encode), what Twilio refuses is
12200, and a body over 64 kB is 11750."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
import twilio.twiml.voice_response as builders

from ivr.testing.sim import MAX_BODY, NESTING, Event, check_twiml
from ivr.testing.sim.grammar import VERBS, allowed_in
from tests.testing.apps.scripted import Page, Place, placing, twiml


@pytest.fixture
def line() -> Iterator[Place]:
    with placing() as place:
        yield place


def builder_nesting() -> set[tuple[str, str]]:
    """(parent tag, child tag) for every element twilio-python's voice builders nest: Twilio's TwiML schema, as
    its SDKs are generated from it."""
    tree = ast.parse(Path(builders.__file__).read_text())
    tags: dict[str, str] = {}
    nests: set[tuple[str, str]] = set()
    for cls in (node for node in tree.body if isinstance(node, ast.ClassDef)):
        for node in ast.walk(cls):
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Attribute) and \
                    node.targets[0].attr == "name" and isinstance(node.value, ast.Constant):
                tags[cls.name] = node.value.value
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "nest" \
                    and isinstance(node.args[0], ast.Call) and isinstance(node.args[0].func, ast.Name):
                nests.add((cls.name, node.args[0].func.id))
    return {(tags[parent], tags[child]) for parent, child in nests}


#: what the builders allow that Twilio's reference does not: <Prompt> belongs in <Pay>, <Queue> in <Dial>
NOT_IN_THE_REFERENCE = {("Response", "Prompt"), ("Response", "Queue")}


def test_every_nesting_twilios_builders_make_is_accepted() -> None:
    pairs = builder_nesting() - NOT_IN_THE_REFERENCE
    assert len(pairs) >= 120  # 129 in twilio-python 9.13
    refused = sorted((parent, child) for parent, child in pairs if child not in NESTING.get(parent, frozenset()))
    assert refused == []


def test_nothing_is_accepted_that_twilios_builders_do_not_make() -> None:
    made = builder_nesting()
    extra = sorted((parent, child) for parent, children in NESTING.items() for child in children
                   if (parent, child) not in made)
    assert extra == []


def test_the_verbs_are_those_of_the_reference() -> None:
    assert sorted(VERBS) == ["Connect", "Dial", "Echo", "Enqueue", "Gather", "Hangup", "Leave", "Pause", "Pay",
                             "Play", "Record", "Redirect", "Refer", "Reject", "Say", "Sms", "Start", "Stop"]


VALID = [
    '<Say voice="Polly.Joanna">Hi <break time="1s"/><say-as interpret-as="digits">42</say-as></Say>',
    '<Gather input="speech dtmf"><Say>Menu</Say><Play>/a.wav</Play><Pause length="1"/></Gather>',
    '<Record action="/r" maxLength="30" transcribe="true"/>',
    '<Dial><Number url="/w">+15550100</Number><Client><Identity>alice</Identity>'
    '<Parameter name="a" value="1"/></Client><Sip>sip:a@b.com</Sip><WhatsApp>+15550101</WhatsApp>'
    '<Application><ApplicationSid>AP1</ApplicationSid><Parameter name="b" value="2"/></Application>'
    "<Sim>DE1</Sim></Dial>",
    "<Dial><Sip><Headers><Header name='X-A' value='1'/></Headers><Uri>sip:b@c.com</Uri></Sip></Dial>",
    '<Dial><Conference waitUrl="/hold">room</Conference></Dial>',
    "<Dial><Queue url='/about'>support</Queue></Dial>",
    '<Enqueue workflowSid="WW1"><Task priority="5">{"lang": "en"}</Task></Enqueue>',
    "<Leave/>", '<Hangup><Parameter name="reason" value="done"/></Hangup>', '<Reject reason="busy"/>',
    "<Refer><Sip>sip:alice@example.com</Sip></Refer>",
    '<Pay chargeAmount="10"><Prompt for="payment-card-number"><Say>Card</Say><Play>/p.wav</Play><Pause/>'
    '</Prompt><Parameter name="o" value="1"/></Pay>',
    '<Connect action="/c"><Stream url="wss://s"><Parameter name="a" value="1"/></Stream></Connect>',
    '<Connect><ConversationRelay url="wss://r"><Language code="en-US"/><Parameter name="a" value="1"/>'
    "</ConversationRelay></Connect>",
    "<Connect><Room>room-1</Room></Connect>",
    '<Connect><VirtualAgent connectorName="x"><Config name="a" value="1"/><Parameter name="b" value="2"/>'
    "</VirtualAgent></Connect>",
    '<Connect><Conversation serviceInstanceSid="IS1"/></Connect>',
    '<Start><Stream url="wss://s"/><Siprec connectorName="c"><Parameter name="a" value="1"/></Siprec>'
    '<Transcription><Config name="a" value="1"/><Parameter name="b" value="2"/></Transcription>'
    "<Recording/></Start>",
    '<Stop><Stream name="s"/><Siprec name="r"/><Transcription name="t"/></Stop>',
    "<Echo/>", '<Sms to="+15550100">hello</Sms>', "<Redirect>/next</Redirect>", '<Play digits="ww1"/>',
]


@pytest.mark.parametrize("verb", VALID)
def test_valid_twiml_is_accepted(verb: str) -> None:
    assert check_twiml(twiml(verb)).tag == "Response"


@pytest.mark.parametrize(("verb", "error"), [
    ("<Message>hi</Message>", "12200: <Message> is messaging TwiML, not voice: a voice call cannot run it (send a "
                              "text with the REST API, or the deprecated <Sms>)"),
    ("<say>hi</say>", "12200: <say> is not allowed inside <Response>; allowed: ['Connect', 'Dial', 'Echo', "
                      "'Enqueue', 'Gather', 'Hangup', 'Leave', 'Pause', 'Pay', 'Play', 'Record', 'Redirect', "
                      "'Refer', 'Reject', 'Say', 'Sms', 'Start', 'Stop']"),
    ("<Gather><Record/></Gather>", "12200: <Record> is not allowed inside <Gather>; allowed: ['Pause', 'Play', "
                                   "'Say']"),
    ("<Dial><Stream url='wss://x'/></Dial>", "12200: <Stream> is not allowed inside <Dial>; allowed: "
                                             "['Application', 'Client', 'Conference', 'Number', 'Queue', 'Sim', "
                                             "'Sip', 'WhatsApp']"),
    ("<Refer><Sip><Headers/></Sip></Refer>", "12200: <Sip> takes no nested elements (found <Headers>)"),
    ("<Stop><Recording/></Stop>", "12200: <Recording> is not allowed inside <Stop>; allowed: ['Siprec', 'Stream', "
                                  "'Transcription']"),
    ("<Pause><Say>x</Say></Pause>", "12200: <Pause> takes no nested elements (found <Say>)"),
    ("<Prompt><Say>x</Say></Prompt>", "12200: <Prompt> is not allowed inside <Response>; allowed: ['Connect', "
                                      "'Dial', 'Echo', 'Enqueue', 'Gather', 'Hangup', 'Leave', 'Pause', 'Pay', "
                                      "'Play', 'Record', 'Redirect', 'Refer', 'Reject', 'Say', 'Sms', 'Start', "
                                      "'Stop']"),
    ("<Connect><Number>+1</Number></Connect>", "12200: <Number> is not allowed inside <Connect>; allowed: "
                                               "['AiSession', 'Autopilot', 'Conversation', 'ConversationRelay', "
                                               "'ConversationRelaySession', 'Room', 'Stream', 'VirtualAgent']"),
    ("<Say><s><s>x</s></s></Say>", "12200: <s> is not allowed inside <s>; allowed: ['break', 'emphasis', 'lang', "
                                   "'phoneme', 'prosody', 'say-as', 'sub', 'w']"),
])
def test_what_twilio_refuses_is_12200(verb: str, error: str) -> None:
    with pytest.raises(ValueError, match=r"^12200: ") as raised:
        check_twiml(twiml(verb))
    assert str(raised.value) == error


def test_a_refused_document_ends_the_call_with_the_application_error(line: Place) -> None:
    call, _ = line({"/voice": twiml("<Say>Hi</Say><Message>hi</Message>")})
    assert (call.error_codes, call.status, call.hung_up_by, call.prompts) == (
        ["12200"], "failed", "twilio", ["We are sorry, an application error has occurred. Goodbye."])


def test_the_sip_of_a_refer_takes_nothing_but_the_sip_of_a_dial_takes_headers() -> None:
    assert (allowed_in("Sip", "Refer"), allowed_in("Sip", "Dial")) == (frozenset(), frozenset({"Headers", "Uri"}))


@pytest.mark.parametrize(("size", "codes"), [(MAX_BODY, []), (MAX_BODY + 1, ["11750"])])
def test_a_body_over_64_kb_is_11750(line: Place, size: int, codes: list[str]) -> None:
    head = twiml("<Say>") .removesuffix("</Response>")
    body = head + "x" * (size - len(head) - len("</Say></Response>")) + "</Say></Response>"
    assert len(body.encode()) == size
    call, _ = line({"/voice": Page(body)})
    assert call.error_codes == codes
    if codes:
        assert call.errors == [f"11750: http://localhost/voice answered {size} bytes: Twilio takes at most 65536 "
                               "(64 kB)"]
        assert call.transcript[-1] == Event("ivr", "We are sorry, an application error has occurred. Goodbye.")
