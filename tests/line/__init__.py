"""Tests of the phone line (ivr.line)."""
