"""A local stand-in for the K-Series API and the restaurant POS behind it.

Used by orderflow's demo, integration tests, chaos test and benchmarks. Start it with
`python -m worker.sandbox --port 8100` or `serve(host, port, SandboxConfig(...))`; in-process
with `create_app(config, notify_transport=...)`.
"""

from __future__ import annotations

from worker.sandbox.app import create_app
from worker.sandbox.config import SandboxConfig
from worker.sandbox.engine import Sandbox
from worker.sandbox.server import serve

__all__ = ["Sandbox", "SandboxConfig", "create_app", "serve"]
