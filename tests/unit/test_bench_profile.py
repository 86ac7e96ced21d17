"""bench/profile.py: py-spy samples are put in the bucket of their innermost known frame."""

from __future__ import annotations

from pathlib import Path

from bench.profile import _PROJECT, bucket_of, summarise


def test_a_sample_belongs_to_its_innermost_known_library() -> None:
    stack = [
        "process 1:celery worker",
        "run (/venv/lib/python3.11/site-packages/celery/app/trace.py:451)",
        f"advance ({_PROJECT}worker/engine.py:80)",
        "send (/venv/lib/python3.11/site-packages/httpx/_client.py:914)",
        "recv_into (/usr/lib/python3.11/ssl.py:1100)",
    ]
    assert bucket_of(stack) == "httpx/httpcore/h11"


def test_a_sample_of_only_the_standard_library_is_stdlib() -> None:
    assert bucket_of(["wait (/usr/lib/python3.11/threading.py:320)"]).startswith("stdlib")


def test_summarise_adds_the_counts_of_py_spy_raw_lines(tmp_path: Path) -> None:
    raw = tmp_path / "worker.raw"
    raw.write_text(
        f"main;f ({_PROJECT}worker/store.py:10) 7\n"
        "main;g (/x/site-packages/redis/client.py:5) 3\n"
        f"main;h ({_PROJECT}worker/engine.py:1);i (/usr/lib/python3.11/json/decoder.py:9) 2\n"
        "main;j (/x/site-packages/celery/worker/consumer.py:1) 4\n"
        "garbage line\n"
    )
    assert summarise(raw) == {"orderflow worker/": 9, "redis-py": 3, "celery": 4}
