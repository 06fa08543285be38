"""Tests of audio and speech (ivr.speech)."""
