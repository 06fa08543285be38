"""The baseline for `webhook_load.py`: a bare Flask app whose one endpoint answers every request with the same
TwiML, a `<Gather>` that posts back to itself. No flow, no signature check, no database: what gunicorn, Flask
and the HTTP round trip cost on their own.

    gunicorn --pythonpath bench "bare_app:create_app()"
"""

from __future__ import annotations

from flask import Flask, Response

#: about the size of one of our menu prompts, so that both apps send comparable bodies
TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Gather action="/voice/bare/gather?seq=1" '
    'actionOnEmptyResult="true" hints="billing, technical support, cancel, agent" input="speech dtmf" '
    'language="en-US" method="POST" numDigits="1" finishOnKey="" speechTimeout="auto" timeout="5">'
    '<Say language="en-US" voice="Polly.Joanna">For billing, say billing or press 1. For technical support, '
    "say technical support or press 2. To cancel your service, say cancel or press 9. For an agent, say agent "
    "or press 0.</Say></Gather></Response>"
)


def create_app() -> Flask:
    app = Flask("bare")

    @app.route("/", defaults={"path": ""}, methods=["GET", "POST"])
    @app.route("/<path:path>", methods=["GET", "POST"])
    def twiml(path: str) -> Response:
        return Response(TWIML, mimetype="application/xml")

    return app
