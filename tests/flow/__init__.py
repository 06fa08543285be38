"""Tests of the flow layer (ivr.flow)."""
