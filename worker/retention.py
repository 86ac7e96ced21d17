"""What is kept of a K-Series notification: the fields orderflow reads, every string bounded.

A webhook body may carry anything K-Series adds (whole accounts, free text, fields we never
read); stored as received, each would be kept for weeks at full size. The stored document is cut
down to the fields of the notification's model, at any depth, so it still parses the same, and
a body that is no notification orderflow knows keeps only a bounded sketch for inspection.
"""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from worker.notifications import parse_notification

__all__ = ["MAX_DEPTH", "MAX_ITEMS", "MAX_TEXT", "kept_notification"]

MAX_TEXT = 256  # characters of any one string (a `reason` may be a whole stack trace)
MAX_ITEMS = 50  # entries of any one list or unknown object
MAX_DEPTH = 6


def kept_notification(payload: Any) -> Any:
    """`payload` with only what its notification model declares; strings cut to MAX_TEXT."""
    try:
        model: type[BaseModel] | None = type(parse_notification(payload))
    except ValidationError:
        model = None
    return _kept(payload, model, 0)


def _kept(value: Any, annotation: Any, depth: int) -> Any:
    if isinstance(value, str):
        return value[:MAX_TEXT]
    if depth > MAX_DEPTH:
        return None
    if isinstance(value, list):
        return [_kept(item, annotation, depth + 1) for item in value[:MAX_ITEMS]]
    if not isinstance(value, dict):
        return value  # numbers, booleans, null
    model = _model_in(annotation)
    if model is None:
        return {
            str(key)[:MAX_TEXT]: _kept(item, None, depth + 1)
            for key, item in list(value.items())[:MAX_ITEMS]
        }
    kept: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        key = next((k for k in (field.alias, name) if k and k in value), None)
        if key is not None:
            kept[key] = _kept(value[key], field.annotation, depth + 1)
    return kept


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model an annotation holds: `M`, `M | None`, `list[M]`, `Annotated[M, ...]`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
