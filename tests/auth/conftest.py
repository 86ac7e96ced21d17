"""Fixtures for the OAuth tests (see fakes.py)."""

from tests.auth.fakes import clock, fake, process, server

__all__ = ["clock", "fake", "process", "server"]
