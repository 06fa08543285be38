"""Twilio's TwiML voice grammar as the simulator enforces it: which verbs and nouns exist, what each may contain,
and the errors Twilio reports for a document it cannot execute (12100 not XML, 12102 wrong root, 12200 a verb or
noun where Twilio does not take it)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

XML_TYPES = ("text/xml", "application/xml", "text/html")  # Twilio parses text/html as TwiML too
#: verb -> the nouns/verbs it may contain (Twilio's nesting rules for the verbs a voice IVR uses)
SSML = frozenset({"break", "emphasis", "lang", "p", "phoneme", "prosody", "s", "say-as", "sub", "w"})
NESTING: dict[str, frozenset[str]] = {
    "Response": frozenset({"Say", "Play", "Pause", "Gather", "Redirect", "Dial", "Hangup", "Reject", "Record",
                           "Connect", "Enqueue", "Leave", "Start", "Stop", "Refer", "Sms"}),
    "Gather": frozenset({"Say", "Play", "Pause"}),
    "Dial": frozenset({"Number", "Sip", "Client", "Conference", "Queue"}),
    "Say": SSML,
    **{tag: SSML for tag in ("emphasis", "lang", "p", "prosody", "s")},
}
EMPTY_VERBS = frozenset({"Hangup", "Reject", "Pause"})


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
    _check_nesting(root)
    return root


def _check_nesting(element: ET.Element) -> None:
    allowed = NESTING.get(element.tag, frozenset())
    for child in element:
        if child.tag not in allowed:
            where = f"<{element.tag}>"
            raise ValueError(f"12200: <{child.tag}> is not allowed inside {where}; allowed: {sorted(allowed)}")
        if child.tag in EMPTY_VERBS and len(child):
            raise ValueError(f"12200: <{child.tag}> takes no nested elements")
        _check_nesting(child)


