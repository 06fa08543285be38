"""Tests of the command line (ivr.cli)."""
