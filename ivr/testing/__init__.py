"""QA without a phone: a fake Twilio that speaks only HTTP and TwiML (sim), call scripts (scripts), sidecar
expectations for recordings (sidecar), recorded calls replayed through the line (replay), the calls a line logged
replayed against a new version of its flow (traffic), and the pytest plugin.
Install with `ivrkit[testing]` (and `ivrkit[speech]` to replay recordings).
"""
