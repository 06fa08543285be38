"""QA without a phone: a fake Twilio that speaks only HTTP and TwiML (sim), call scripts (scripts), sidecar
expectations for recordings (sidecar), recorded calls replayed through the line (replay), and the pytest plugin.
Install with `ivrkit[testing]` (and `ivrkit[speech]` to replay recordings).
"""
