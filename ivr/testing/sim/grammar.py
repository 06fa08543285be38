"""Twilio's TwiML voice grammar as the simulator enforces it: every verb and noun of Twilio's current voice
reference, what each may contain, and the errors Twilio reports for a document it cannot execute (12100 not XML,
12102 wrong root, 12200 an element where Twilio does not take it).

The nesting follows Twilio's TwiML reference (twilio.com/docs/voice/twiml, one page per verb and noun) and the
generated TwiML builders of its SDKs (twilio-python's `twilio.twiml.voice_response`): `<Say>` with SSML,
`<Gather>` with Say/Play/Pause, `<Dial>` with Number, Client (Identity, Parameter), Sip, Conference, Queue,
Application (ApplicationSid, Parameter), WhatsApp and Sim, `<Enqueue>` with Task, `<Refer>` with Sip, `<Pay>` with
Prompt (Say, Play, Pause) and Parameter, `<Connect>` with Stream, ConversationRelay (Language, Parameter), Room,
VirtualAgent (Config, Parameter), Conversation, AiSession, ConversationRelaySession and the retired Autopilot,
`<Start>` with Stream, Siprec, Transcription (Config, Parameter) and Recording, `<Stop>` with Stream, Siprec and
Transcription, `<Hangup>`/`<Reject>` with Parameter, and `<Echo>` and `<Sms>` (deprecated) on their own.
`<Message>` is messaging TwiML, not voice: in a voice document it is 12200, like any unknown or miscased tag.
Twilio's 12200 is logged as a "schema validation warning"; the simulator ends the call on it, so a test sees it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

XML_TYPES = ("text/xml", "application/xml", "text/html")  # Twilio parses text/html as TwiML too
NOTHING: frozenset[str] = frozenset()
_SSML_ALL = frozenset({"break", "emphasis", "lang", "p", "phoneme", "prosody", "s", "say-as", "sub", "w"})
_SSML_INLINE = _SSML_ALL - {"p"}  # what a sentence, a word's emphasis or a paragraph holds (no paragraph)
SSML = _SSML_ALL
VERBS = frozenset({"Say", "Play", "Pause", "Gather", "Record", "Dial", "Enqueue", "Leave", "Hangup", "Reject",
                   "Redirect", "Refer", "Pay", "Connect", "Start", "Stop", "Echo", "Sms"})
#: element -> the elements it may contain (an element not listed contains none)
NESTING: dict[str, frozenset[str]] = {
    "Response": VERBS,
    "Say": _SSML_ALL, "prosody": _SSML_ALL, "lang": _SSML_ALL,
    "p": _SSML_INLINE, "s": _SSML_INLINE - {"s"}, "emphasis": _SSML_INLINE - {"s"},
    "w": frozenset({"break", "emphasis", "phoneme", "prosody", "say-as", "sub"}),
    "Gather": frozenset({"Say", "Play", "Pause"}),
    "Prompt": frozenset({"Say", "Play", "Pause"}),
    "Dial": frozenset({"Number", "Client", "Sip", "Conference", "Queue", "Application", "WhatsApp", "Sim"}),
    "Client": frozenset({"Identity", "Parameter"}),
    "Application": frozenset({"ApplicationSid", "Parameter"}),
    "Sip": frozenset({"Headers", "Uri"}),
    "Headers": frozenset({"Header"}),
    "Enqueue": frozenset({"Task"}),
    "Refer": frozenset({"Sip"}),
    "Pay": frozenset({"Prompt", "Parameter"}),
    "Connect": frozenset({"Stream", "ConversationRelay", "Room", "VirtualAgent", "Conversation", "AiSession",
                          "ConversationRelaySession", "Autopilot"}),
    "ConversationRelay": frozenset({"Language", "Parameter"}),
    "VirtualAgent": frozenset({"Config", "Parameter"}),
    "Start": frozenset({"Stream", "Siprec", "Transcription", "Recording"}),
    "Stop": frozenset({"Stream", "Siprec", "Transcription"}),
    "Stream": frozenset({"Parameter"}),
    "Siprec": frozenset({"Parameter"}),
    "Transcription": frozenset({"Config", "Parameter"}),
    "Hangup": frozenset({"Parameter"}),
    "Reject": frozenset({"Parameter"}),
}
#: where an element's content depends on its parent: (parent, element) -> what it may contain
WITHIN: dict[tuple[str, str], frozenset[str]] = {("Refer", "Sip"): NOTHING}


def check_twiml(text: str) -> ET.Element:
    """Parse a TwiML document as Twilio would, raising ValueError with Twilio's error code when it would not."""
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise ValueError("12100: document type declarations are not accepted")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ValueError(f"12100: the document is not well-formed XML: {exc}") from exc
    except ValueError as exc:  # text no XML parser takes: a lone surrogate, a declared multi-byte encoding
        raise ValueError(f"12100: the document cannot be read as XML: {exc}") from exc
    if root.tag != "Response":
        raise ValueError(f"12102: the root element is <{root.tag}>, not <Response>")
    _check_nesting(root, "")
    return root


def number(text: str | None, default: int, least: int = 0, most: int = 86400) -> int:
    """An attribute that is a whole number (ASCII digits), within bounds; `default` when it is none."""
    text = (text or "").strip()
    value = int(text) if 0 < len(text) < 10 and text.isascii() and text.isdigit() else default
    return min(max(value, least), most)


def flag(text: str | None, default: bool) -> bool:
    """A true/false attribute (`default` when absent)."""
    return default if text is None else text.strip().lower() == "true"


def allowed_in(element: str, parent: str = "") -> frozenset[str]:
    """What `element` may contain, inside `parent`."""
    return WITHIN.get((parent, element), NESTING.get(element, NOTHING))


def _check_nesting(element: ET.Element, parent: str) -> None:
    allowed = allowed_in(element.tag, parent)
    for child in element:
        if child.tag not in allowed:
            if child.tag == "Message" and element.tag == "Response":
                raise ValueError("12200: <Message> is messaging TwiML, not voice: a voice call cannot run it (send a "
                                 "text with the REST API, or the deprecated <Sms>)")
            if not allowed:
                raise ValueError(f"12200: <{element.tag}> takes no nested elements (found <{child.tag}>)")
            raise ValueError(f"12200: <{child.tag}> is not allowed inside <{element.tag}>; allowed: {sorted(allowed)}")
        _check_nesting(child, element.tag)
