"""Error bodies and how the OpenAPI document describes them.

Every error answer is JSON with a `detail`:

- request validation (pydantic): `422` with `detail` a list of `{loc, msg, type}` (FastAPI's
  `HTTPValidationError`);
- every error the API raises itself (401, 404, 409, 422 for a refused value, 502, 503, …) and an
  unexpected server error (500): `detail` one line of text (`ErrorMessage`).

`document_errors` writes exactly that into the OpenAPI schema of every operation, so clients
generated from it handle every answer (tests/api/test_schema.py checks real answers against it).
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import (
    get_openapi,
    validation_error_definition,
    validation_error_response_definition,
)
from pydantic import BaseModel, Field


class ErrorMessage(BaseModel):
    """An error the API raises itself: one line of text."""

    detail: str = Field(description="what went wrong, in one line")


_MESSAGE = {"$ref": "#/components/schemas/ErrorMessage"}
_VALIDATION = {"$ref": "#/components/schemas/HTTPValidationError"}
_JSON = "application/json"


def _response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


def document_errors(app: FastAPI) -> None:
    """Replace `app.openapi` by one that documents the error bodies of every operation."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            description=app.description,
            routes=app.routes,
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["ErrorMessage"] = ErrorMessage.model_json_schema()
        # Present when some operation has parameters; referenced by every operation below.
        components.setdefault("ValidationError", copy.deepcopy(validation_error_definition))
        components.setdefault(
            "HTTPValidationError", copy.deepcopy(validation_error_response_definition)
        )
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                responses = operation.setdefault("responses", {})
                responses["401"] = _response(
                    "Missing or wrong API token (when `api_token` is set)", _MESSAGE
                )
                responses["422"] = _response(
                    "The request is invalid: a list of validation errors (`HTTPValidationError`),"
                    " or one message when a value is refused by a rule of the central system",
                    {"anyOf": [_VALIDATION, _MESSAGE]},
                )
                responses.setdefault(
                    "default",
                    _response("Any other error (404, 409, 500, 502, 503, …)", _MESSAGE),
                )
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
