"""Tests of the proof layer (ivr.proof)."""
