"""Spring-style error bodies, as K-Series (a Spring Boot service) answers them.

A validation failure lists one entry per bad field with `codes`, `arguments`,
`defaultMessage`, `objectName`, `field`, `bindingFailure`, `code`; other errors carry only
`timestamp`, `status`, `error`, `message`, `path`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from typing import Any

from sandbox.formats import kseries_time

__all__ = ["FieldError", "error_body", "validation_body"]

JAVA_TYPES = {
    "String": "java.lang.String",
    "Long": "java.lang.Long",
    "Integer": "java.lang.Integer",
    "BigDecimal": "java.math.BigDecimal",
    "Object": "java.lang.Object",
    "ZonedDateTime": "java.time.ZonedDateTime",
    "List": "java.util.List",
}


@dataclass(frozen=True)
class FieldError:
    """One rejected field; `field` uses Spring's path form (`items[0].sku`)."""

    field: str
    code: str
    message: str
    java_type: str = "String"
    limits: tuple[int, ...] = ()
    binding_failure: bool = False

    def as_json(self, object_name: str) -> dict[str, Any]:
        leaf = self.field.rsplit(".", 1)[-1]
        codes = [f"{self.code}.{object_name}.{self.field}", f"{self.code}.{self.field}"]
        if leaf != self.field:
            codes.append(f"{self.code}.{leaf}")
        codes += [f"{self.code}.{JAVA_TYPES.get(self.java_type, self.java_type)}", self.code]
        arguments: list[Any] = [
            {
                "codes": [f"{object_name}.{self.field}", self.field],
                "defaultMessage": self.field,
                "code": self.field,
            },
            *self.limits,
        ]
        return {
            "codes": codes,
            "arguments": arguments,
            "defaultMessage": self.message,
            "objectName": object_name,
            "field": self.field,
            "bindingFailure": self.binding_failure,
            "code": self.code,
        }


def error_body(status: int, message: str, path: str, now: datetime) -> dict[str, Any]:
    return {
        "timestamp": kseries_time(now),
        "status": status,
        "error": HTTPStatus(status).phrase,
        "message": message,
        "path": path,
    }


def validation_body(
    object_name: str, errors: list[FieldError], path: str, now: datetime
) -> dict[str, Any]:
    body = error_body(
        400,
        f"Validation failed for object='{object_name}'. Error count: {len(errors)}",
        path,
        now,
    )
    body.pop("path")
    body["errors"] = [e.as_json(object_name) for e in errors]
    body["path"] = path
    return body
