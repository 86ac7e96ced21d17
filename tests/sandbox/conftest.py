"""Fixtures for the sandbox tests (see harness.py)."""

from tests.sandbox.harness import anyio_backend, kseries

__all__ = ["anyio_backend", "kseries"]
