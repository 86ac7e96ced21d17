"""The naive peer's best is a peak the sweep found, not the edge of the list it was given."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import peers
from bench.options import BenchOptions
from bench.series import Series


def sweep(monkeypatch: pytest.MonkeyPatch, rates: dict[int, float], **opts: Any) -> list[int]:
    """Threads tried, in order, with the peer doing `rates[threads]` orders/s."""
    tried: list[int] = []

    def fake(_o: Any, _w: Path, _s: Any, _l: Any, threads: int) -> dict[str, Any]:
        tried.append(threads)
        return {"threads": threads, "throughput": rates[threads]}

    monkeypatch.setattr(peers, "run_naive", fake)
    result = peers.run_naive_sweep(BenchOptions(**opts), Path("/nonexistent"), Series(), print)
    assert result["best"]["throughput"] == max(rates[t] for t in tried)
    return tried


def test_the_sweep_doubles_past_the_list_while_the_peer_still_gains_more_than_5_percent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rates = {8: 4.0, 64: 31.0, 256: 116.0, 512: 146.0, 1024: 170.0, 2048: 175.0, 4096: 1.0}
    assert sweep(monkeypatch, rates) == [8, 64, 256, 512, 1024, 2048]  # +3 % at 2048: stop


def test_the_sweep_stops_at_the_list_when_the_last_count_gained_little(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rates = {8: 4.0, 64: 31.0, 256: 116.0, 512: 121.0}  # +4.3 %
    assert sweep(monkeypatch, rates) == [8, 64, 256, 512]


def test_the_sweep_adds_at_most_three_doublings(monkeypatch: pytest.MonkeyPatch) -> None:
    rates = {t: float(t) for t in (8, 16, 32, 64, 128)}
    assert sweep(monkeypatch, rates, naive_threads=(8, 16)) == [8, 16, 32, 64, 128]


def test_a_quick_run_tries_only_the_counts_it_was_given(monkeypatch: pytest.MonkeyPatch) -> None:
    rates = {8: 4.0, 32: 15.0, 64: 30.0}
    assert sweep(monkeypatch, rates, naive_threads=(8, 32), quick=True) == [8, 32]
