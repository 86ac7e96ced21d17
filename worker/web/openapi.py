"""`/openapi.json` as the API really is: the handlers read their bodies themselves (amounts as
Decimal, bounded JSON), so FastAPI cannot see them; the submission's schema is added here from
the same pydantic models that validate it. Schemathesis fuzzes the API from this description.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from worker.order import SubmissionAdapter

__all__ = ["ERRORS", "FieldErrors", "Problem", "describe_bodies"]

REF_TEMPLATE = "#/components/schemas/{model}"


class FieldError(BaseModel):
    field: str
    message: str


class FieldErrors(BaseModel):
    """`422` (and `415`): every field that is wrong, as a dotted path in the body."""

    detail: list[FieldError]


class Problem(BaseModel):
    """Any other error: what went wrong, in words."""

    detail: str


def _doc(description: str, model: type[BaseModel] = Problem) -> dict[str, Any]:
    return {"description": description, "model": model}


ERRORS: dict[int | str, dict[str, Any]] = {
    401: _doc("missing or wrong credentials"),
    413: _doc("body larger than ORDERFLOW_MAX_BODY_BYTES"),
    415: _doc("Content-Type is not application/json", FieldErrors),
    422: _doc("invalid body or parameter: the fields named", FieldErrors),
    503: _doc(
        "Redis unavailable, or the order not yet confirmed on a replica: not accepted; "
        "send the same request again after Retry-After"
    ),
}


def describe_bodies(app: FastAPI) -> None:
    """Replace `app.openapi` with one that also documents `POST /orders`' request body."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            submission = SubmissionAdapter.json_schema(ref_template=REF_TEMPLATE)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(submission.pop("$defs", {}))
            schema["paths"]["/orders"]["post"]["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": submission}},
            }
            schema["paths"]["/webhooks/kseries"]["post"]["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "description": "a K-Series ORDER, PAYMENT or account notification",
                        }
                    }
                },
            }
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
