"""A local stand-in for the K-Series API and the restaurant POS behind it.

Used by orderflow's demo, integration tests, chaos test and benchmarks. Start it with
`python -m sandbox --port 8100` or `serve(host, port, SandboxConfig(...))`; in-process
with `create_app(config, businesses=[Business(...)], notify_transport=...)`.
"""

from __future__ import annotations

from sandbox.app import create_app
from sandbox.businesses import Business
from sandbox.config import SandboxConfig
from sandbox.engine import Sandbox
from sandbox.server import serve

__all__ = ["Business", "Sandbox", "SandboxConfig", "create_app", "serve"]
