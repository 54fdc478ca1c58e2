"""Checks a response against the API's OpenAPI 3.1 document: path, method, status, headers, body.

Every response the API tests receive goes through ``Conformance.check`` (an httpx response hook),
so the document is tested against the behaviour, not only written next to it.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

DOC_URI = "urn:ssid-api:openapi"


class NotConforming(AssertionError):
    pass


class Conformance:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.registry = Registry().with_resource(DOC_URI, DRAFT202012.create_resource(doc))
        self.checked: list[tuple[str, str, int]] = []

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            ref = node["$ref"]
            assert ref.startswith("#/"), ref
            target: Any = self.doc
            for part in ref[2:].split("/"):
                target = target[part]
            node = target
        return node

    def _validate(self, value: Any, schema: dict[str, Any], where: str) -> None:
        wrapper = {"$ref": f"{DOC_URI}#/{where}"} if where else schema
        validator = Draft202012Validator(wrapper, registry=self.registry,
                                         format_checker=Draft202012Validator.FORMAT_CHECKER)
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.path))
        if errors:
            raise NotConforming("; ".join(f"{list(e.path)}: {e.message}" for e in errors))

    def check(self, response: httpx.Response) -> None:
        method = response.request.method.lower()
        path = response.request.url.path
        item = self.doc["paths"].get(path)
        if item is None or method not in item:
            raise NotConforming(f"{method.upper()} {path} is not in the OpenAPI document")
        responses = item[method]["responses"]
        status = str(response.status_code)
        key = status if status in responses else "default"
        if key not in responses:
            raise NotConforming(f"{method.upper()} {path}: status {status} is not documented")
        spec = self._resolve(responses[key])
        for name, header in (spec.get("headers") or {}).items():
            h = self._resolve(header)
            value = response.headers.get(name)
            if value is None:
                if h.get("required"):
                    raise NotConforming(f"{method.upper()} {path} {status}: header {name} missing")
                continue
            self._validate(value, h["schema"], "")
        content = spec.get("content")
        media = response.headers.get("content-type", "").split(";")[0].strip()
        if not content:
            if response.content:
                raise NotConforming(f"{method.upper()} {path} {status}: a body where none is documented")
        else:
            if media not in content:
                raise NotConforming(f"{method.upper()} {path} {status}: media type {media!r} not in {list(content)}")
            pointer = self._pointer(content[media]["schema"])
            try:
                body = json.loads(response.content)
            except ValueError as exc:
                raise NotConforming(f"{method.upper()} {path} {status}: body is not JSON") from exc
            if pointer:
                self._validate(body, {}, pointer)
            else:
                self._validate(body, content[media]["schema"], "")
        self.checked.append((method.upper(), path, response.status_code))

    @staticmethod
    def _pointer(schema: dict[str, Any]) -> str:
        ref = schema.get("$ref", "")
        return ref[2:] if ref.startswith("#/") else ""
