"""Waiting for orders to end, over HTTP, as a producer would."""

from __future__ import annotations

import time
from typing import Any

import httpx

TERMINAL = {"completed", "failed", "needs_attention"}


def wait_terminal(api: httpx.Client, bl: int, ref: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    view: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = api.get(f"/orders/{bl}/{ref}")
        if response.status_code == 200:
            view = response.json()
            if view["status"] in TERMINAL:
                return view
        time.sleep(0.2)
    raise AssertionError(
        f"{bl}/{ref} did not end within {timeout}s: {view.get('status')} {view.get('history')}"
    )
