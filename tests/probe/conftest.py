"""Probe fixtures: the reference servers and spec builders come from tests/helpers.py."""
