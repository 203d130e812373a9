"""Fast rules every operation of hub/openapi.yaml keeps, so the live fuzzing has
something to check against: a secured operation documents 401, one that takes a body
or parameters documents 400, every answer has a real schema (not a bare object), and
an operation with path parameters documents 404, and every error is problem+json of the
one shared Problem schema."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

CONTRACT = Path(__file__).resolve().parents[2] / "hub" / "openapi.yaml"
METHODS = ("get", "put", "post", "delete", "patch")
PROBLEM = "#/components/schemas/Problem"


def _resolve(contract: dict, node: dict) -> dict:
    while isinstance(node, dict) and "$ref" in node:
        section, kind, name = node["$ref"].removeprefix("#/").split("/")
        node = contract[section][kind][name]
    return node


def _is_bare_object(schema: dict) -> bool:
    """`type: object` and nothing that says what is in it."""
    shape = {"properties", "additionalProperties", "allOf", "oneOf", "anyOf", "$ref", "items"}
    return schema.get("type") == "object" and not shape & set(schema)


def operations(contract: dict):
    for path, item in contract["paths"].items():
        for method in METHODS:
            if method in item:
                yield f"{method.upper()} {path}", item, item[method]


def violations(contract: dict) -> list[str]:
    found = []
    default_security = contract.get("security")
    for name, item, operation in operations(contract):
        responses = {str(code): _resolve(contract, answer) for code, answer in operation["responses"].items()}
        secured = operation.get("security", default_security)
        if secured and "401" not in responses:
            found.append(f"{name}: secured but documents no 401")
        if (operation.get("requestBody") or operation.get("parameters") or item.get("parameters")) \
                and "400" not in responses:
            found.append(f"{name}: takes input but documents no 400")
        parameters = [_resolve(contract, p) for p in item.get("parameters", []) + operation.get("parameters", [])]
        if any(p.get("in") == "path" for p in parameters) and "404" not in responses:
            found.append(f"{name}: has path parameters but documents no 404")  # unmatched paths are 404
        if not any(code.startswith("2") for code in responses):
            found.append(f"{name}: documents no success")
        for code, answer in responses.items():
            content = answer.get("content", {})
            if code.startswith("2") and code != "204" and not content:
                found.append(f"{name} {code}: no content type")
            for media, body in content.items():
                schema = _resolve(contract, body.get("schema", {}))
                if not schema:
                    found.append(f"{name} {code} {media}: no schema")
                elif _is_bare_object(schema):
                    found.append(f"{name} {code} {media}: a bare `type: object` proves nothing")
            if code[0] in "45":
                if list(content) != ["application/problem+json"] or \
                        content["application/problem+json"].get("schema", {}).get("$ref") != PROBLEM:
                    found.append(f"{name} {code}: an error is application/problem+json of {PROBLEM}")
    return found


def test_every_operation_documents_its_statuses_and_schemas():
    contract = yaml.safe_load(CONTRACT.read_text(encoding="utf-8"))
    assert contract["openapi"] == "3.0.3"  # connexion 3.3 rejects 3.1
    assert violations(contract) == []


BARE = {"description": "x", "content": {"application/json": {"schema": {"type": "object"}}}}
PROBLEM_ANSWER = {"description": "x", "content": {"application/problem+json": {"schema": {"$ref": PROBLEM}}}}


@pytest.mark.parametrize("operation, expected", [
    ({"responses": {"200": BARE, "401": PROBLEM_ANSWER}}, "GET /x 200 application/json: a bare `type: object` proves nothing"),
    ({"responses": {"204": {"description": "x"}}}, "GET /x: secured but documents no 401"),
    ({"parameters": [{"name": "q", "in": "query", "schema": {"type": "string"}}],
      "responses": {"204": {"description": "x"}, "401": PROBLEM_ANSWER}}, "GET /x: takes input but documents no 400"),
    ({"responses": {"204": {"description": "x"}, "401": {"description": "x", "content": {
        "application/json": {"schema": {"type": "string"}}}}}},
     f"GET /x 401: an error is application/problem+json of {PROBLEM}"),
    ({"parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
      "responses": {"204": {"description": "x"}, "400": PROBLEM_ANSWER, "401": PROBLEM_ANSWER}},
     "GET /x: has path parameters but documents no 404"),
])
def test_the_rules_catch_an_operation_that_breaks_them(operation, expected):
    contract = {"security": [{"bearerAuth": []}], "paths": {"/x": {"get": operation}},
                "components": {"schemas": {"Problem": {"type": "object", "properties": {"title": {"type": "string"}}}}}}
    assert expected in violations(contract)
