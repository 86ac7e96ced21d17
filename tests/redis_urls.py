"""URLs of the test Redis (a unix socket) in the spellings its consumers want."""

from __future__ import annotations


def broker_url(redis_url: str, db: int) -> str:
    """kombu's spelling of a unix-socket Redis (`redis+socket:///path?virtual_host=N`)."""
    path = redis_url.removeprefix("unix://").split("?", 1)[0]
    return f"redis+socket://{path}?virtual_host={db}"


def with_db(redis_url: str, db: int) -> str:
    """The same unix-socket Redis, another database (redis-py's `?db=N`)."""
    return f"{redis_url.split('?', 1)[0]}?db={db}"
