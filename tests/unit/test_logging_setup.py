"""How every process logs (`config.logging.configure_logging`): JSON off a terminal, ISO UTC
timestamps, INFO by default, stdlib lines (Celery, uvicorn) through the same chain, with the
task's bound context and its redaction, and no per-request chatter from the HTTP libraries."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from config.logging import REDACTED, configure_logging

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


class Terminal(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.fixture
def stderr(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Configure logging as a process does, onto a stand-in stderr; restore the previous setup."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in NOISY}
    for name in NOISY:  # as in a fresh process, whatever ran before
        logging.getLogger(name).setLevel(logging.NOTSET)

    def configure(tty: bool = False, **options: Any) -> Terminal:
        out = Terminal(tty)
        monkeypatch.setattr("sys.stderr", out)
        configure_logging(**options)
        return out

    try:
        yield configure
    finally:
        structlog.configure(**saved)
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, noisy_level in levels.items():
            logging.getLogger(name).setLevel(noisy_level)
        structlog.contextvars.clear_contextvars()


NOISY = ("httpx", "httpcore", "celery.worker.strategy", "celery.app.trace")


def lines(out: Terminal) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines() if line]


def test_off_a_terminal_lines_are_json_with_level_logger_and_an_iso_utc_timestamp(
    stderr: Any,
) -> None:
    out = stderr(tty=False)
    structlog.get_logger("orderflow.test").info("order.transition", to_status="completed")
    (line,) = lines(out)
    assert line["event"] == "order.transition"
    assert line["to_status"] == "completed"
    assert line["level"] == "info"
    assert line["logger"] == "orderflow.test"
    assert ISO_UTC.match(line["timestamp"]), line["timestamp"]


def test_on_a_terminal_lines_are_rendered_for_people_not_as_json(stderr: Any) -> None:
    out = stderr(tty=True)
    structlog.get_logger("orderflow.test").info("order.transition", to_status="completed")
    text = out.getvalue()
    assert "order.transition" in text and "completed" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.splitlines()[0])


def test_json_can_be_asked_for_on_a_terminal_and_refused_off_one(stderr: Any) -> None:
    out = stderr(tty=True, json=True)
    structlog.get_logger("orderflow.test").info("asked")
    assert lines(out)[0]["event"] == "asked"
    out = stderr(tty=False, json=False)
    structlog.get_logger("orderflow.test").info("refused")
    with pytest.raises(json.JSONDecodeError):
        json.loads(out.getvalue().splitlines()[0])


def test_the_default_level_is_info(stderr: Any) -> None:
    out = stderr()
    assert logging.getLogger().level == logging.INFO
    structlog.get_logger("orderflow.test").debug("hidden")
    structlog.get_logger("orderflow.test").info("shown")
    assert [line["event"] for line in lines(out)] == ["shown"]


def test_a_stdlib_line_goes_through_the_same_chain_with_the_tasks_context_redacted(
    stderr: Any,
) -> None:
    out = stderr()
    structlog.contextvars.bind_contextvars(reference="shop-1", email="jane@example.com")
    logging.getLogger("celery.worker").warning("task received")
    (line,) = lines(out)
    assert line["event"] == "task received"
    assert line["level"] == "warning"
    assert line["logger"] == "celery.worker"
    assert ISO_UTC.match(line["timestamp"])
    assert line["reference"] == "shop-1"
    assert line["email"] == REDACTED


@pytest.mark.parametrize("name", NOISY)
def test_per_request_and_per_task_chatter_of_libraries_is_not_logged(
    stderr: Any, name: str
) -> None:
    out = stderr()
    logging.getLogger(name).info("HTTP Request: POST https://k.example/o/op/1/pay")
    logging.getLogger(name).warning("worth a look")
    assert [line["event"] for line in lines(out)] == ["worth a look"]
