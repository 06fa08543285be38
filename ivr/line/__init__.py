"""The phone line: TwiML from engine steps (twiml), one webhook from start to finish (webhook), the durable call
store (store), settings, and the Flask app that routes Twilio's requests (app). Install with `ivrkit[line]`.
"""
