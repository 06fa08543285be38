"""Twilio voice apps written for the tests, not with ivr: a Flask app (flask_app), a plain WSGI app (wsgi_app) and
scripted documents (scripted); together they use every TwiML verb the simulator executes."""
