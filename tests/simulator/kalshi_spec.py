"""Kalshi's published specs as JSON Schema validators: ``openapi.yaml`` and ``asyncapi.yaml`` from
``tests/fixtures/kalshi`` with today's models laid over them (``current.yaml``, see its README).

OpenAPI 3.0 is not quite JSON Schema: ``nullable: true`` becomes ``anyOf [schema, null]`` here, and
``format: date-time`` is checked (RFC 3339 with a zone). Everything else is validated as written —
types, required fields, enumerations, patterns — over the whole body, not only the fields a client reads.
"""

from __future__ import annotations

import copy
import functools
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import yaml

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kalshi"
HTTP = ("get", "post", "put", "delete")


def _nullable(node: Any) -> Any:
    """OpenAPI 3.0 -> JSON Schema: ``nullable: true`` becomes ``anyOf [schema, null]``."""
    if isinstance(node, list):
        return [_nullable(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is True:
        return {"anyOf": [out, {"type": "null"}]}
    return out


def _patch(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """Replace ``required`` (and any other keyword), add/replace ``properties``; ``msg`` patches the
    stream payload's nested ``msg`` object the same way."""
    for key, value in patch.items():
        if key == "properties":
            target.setdefault("properties", {}).update(value)
        elif key == "msg":
            _patch(target.setdefault("properties", {}).setdefault("msg", {}), value)
        else:
            target[key] = value


def _overlay(schemas: dict[str, Any], patches: dict[str, Any]) -> None:
    """Apply ``current.yaml`` to the spec's schemas (new names become new schemas)."""
    for name, patch in (patches or {}).items():
        _patch(schemas.setdefault(name, {}), patch)


@functools.cache
def _doc(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((FIXTURES / f"{name}.yaml").read_text())
    overlay = yaml.safe_load((FIXTURES / "current.yaml").read_text()) or {}
    _overlay(doc["components"]["schemas"], overlay.get(name) or {})
    return _nullable(doc)


_FORMATS = jsonschema.FormatChecker(())


@_FORMATS.checks("date-time", raises=ValueError)
def _rfc3339(value: object) -> bool:
    """RFC 3339 with an explicit zone (``Z`` or ``±hh:mm``)."""
    if not isinstance(value, str):
        return True
    if not (value.endswith("Z") or value[-6:-5] in "+-"):
        raise ValueError(f"{value!r} has no time zone")
    datetime.fromisoformat(value)
    return True


def _errors(doc: str, schema: dict[str, Any], instance: Any) -> list[str]:
    root = copy.copy(_doc(doc))
    root.pop("$ref", None)
    validator = jsonschema.Draft7Validator({**root, **schema}, format_checker=_FORMATS)
    return [f"/{'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
            for e in sorted(validator.iter_errors(instance), key=str)]


def api_violations(schema: str, instance: Any) -> list[str]:
    """Errors of ``instance`` against ``components/schemas/<schema>`` of the OpenAPI spec."""
    return _errors("openapi", {"$ref": f"#/components/schemas/{schema}"}, instance)


def stream_violations(schema: str, frame: Any) -> list[str]:
    """Errors of a whole WebSocket frame against ``components/schemas/<schema>`` of the AsyncAPI spec."""
    return _errors("asyncapi", {"$ref": f"#/components/schemas/{schema}"}, frame)


def operation(method: str, path: str) -> dict[str, Any] | None:
    """The OpenAPI operation for ``method path`` (``path`` relative to ``/trade-api/v2``, templated), or None."""
    return (_doc("openapi")["paths"].get(path) or {}).get(method.lower())


def spec_paths() -> set[tuple[str, str]]:
    """Every ``(METHOD, path)`` the OpenAPI spec documents."""
    return {(m.upper(), p) for p, ops in _doc("openapi")["paths"].items() for m in ops if m in HTTP}


def response_schema(method: str, path: str, status: int) -> dict[str, Any] | None:
    """The JSON schema of the ``status`` answer of ``method path`` (``$ref``s resolved against the spec).

    None when the operation documents no JSON body for that status.
    """
    op = operation(method, path)
    if op is None:
        return None
    resp = op.get("responses", {}).get(str(status))
    if resp is None:
        return None
    if "$ref" in resp:
        resp = _doc("openapi")["components"]["responses"][resp["$ref"].rsplit("/", 1)[1]]
    schema = ((resp.get("content") or {}).get("application/json") or {}).get("schema")
    return schema


def response_violations(method: str, path: str, status: int, body: Any) -> list[str]:
    """Errors of an answer against what the spec documents for it.

    2xx: the whole body against the operation's response schema. 4xx/5xx: Kalshi wraps ``ErrorResponse``
    in ``{"error": {...}}`` on the wire; a 429 carries ``{"error": "too many requests"}``. A status the
    operation does not document is itself a violation.
    """
    if status == 429:
        return [] if body == {"error": "too many requests"} else [f"429 body {body!r}"]
    if status >= 400:
        if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
            return [f"error body is not Kalshi's nested envelope: {body!r}"]
        return api_violations("ErrorResponse", body["error"]) + (
            [] if body["error"].get("code") else ["error.code is empty"])
    schema = response_schema(method, path, status)
    if schema is None:
        if operation(method, path) is None:
            return [f"{method} {path} is not in the spec"]
        if body is None and status == 204:
            return []
        return [f"{method} {path} documents no JSON body for {status}"]
    return _errors("openapi", schema, body)
