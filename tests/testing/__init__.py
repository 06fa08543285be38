"""Tests of testing without a phone (ivr.testing)."""
