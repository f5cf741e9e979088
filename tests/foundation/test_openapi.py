"""The OpenAPI 3.1 contract of the functions (functions/openapi/openapi.json): generated from the operations
each function declares (shared/platform/contract.py), checked in, valid, complete and served.

tests/foundation/test_fuzz.py runs schemathesis over every operation in it.
"""

from __future__ import annotations

import importlib.util
import json
import re
import uuid

import httpx
import jsonschema_rs
import pytest
from pydantic import BaseModel
from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR

from shared.devstack import devserver
from shared.platform import contract
from shared.platform.config import PROJECT_ROOT, project
from tests.support.http import service_headers

DOCUMENT = PROJECT_ROOT / "functions" / "openapi" / "openapi.json"


def generator():
    spec = importlib.util.spec_from_file_location("gen_openapi", PROJECT_ROOT / "scripts" / "gen_openapi.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def checked_in() -> dict:
    return json.loads(DOCUMENT.read_text())


@pytest.fixture(scope="module")
def declared() -> dict[str, tuple[contract.Operation, ...]]:
    return generator().operations()


def test_the_checked_in_document_is_the_code_s(declared):
    fresh = generator().build()
    assert DOCUMENT.read_text() == fresh, (
        "functions/openapi/openapi.json is stale: run .venv/bin/python scripts/gen_openapi.py")


def test_it_is_a_valid_openapi_3_1_document_whose_schemas_are_json_schema_2020_12(checked_in):
    problems = [f"{'/'.join(map(str, e.instance_path))}: {e.message}" for e in OPENAPI_31_VALIDATOR.iter_errors(checked_in)]
    assert problems == []
    assert checked_in["openapi"] == "3.1.0"
    for name, schema in checked_in["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(schema), name
        assert re.fullmatch(r"[A-Za-z0-9._-]+", name), name  # what OpenAPI allows a component to be called
    refs = set(re.findall(r'"\$ref": "#/components/(?:schemas|responses)/([^"]+)"', DOCUMENT.read_text()))
    known = set(checked_in["components"]["schemas"]) | set(checked_in["components"]["responses"])
    assert refs - known == set()


def test_every_function_declares_its_operations(declared, checked_in):
    assert set(declared) == set(devserver.function_names())
    assert [name for name, ops in declared.items() if not ops] == []
    tags = {op["tags"][0] for path in checked_in["paths"].values() for op in path.values()}
    assert tags == set(devserver.function_names())


def test_every_operation_answers_the_one_error_shape_and_says_who_may_call_it(checked_in):
    pages = {}
    for path, methods in checked_in["paths"].items():
        for method, op in methods.items():
            for status in ("400", "401", "403", "404", "409", "413", "422", "429", "502", "503", "default"):
                if op["responses"][status] != {"$ref": "#/components/responses/Error"}:
                    pages.setdefault((method, path), set()).add(status)
            assert any(s.startswith(("2", "3")) for s in op["responses"]), (method, path)
            auth = op["x-bookwell-auth"]
            assert op["security"] == ([{"bearer": []}] if auth in ("anon", "user", "service") else []), (method, path)
            # A function without verify_jwt authenticates its callers itself; one with it always needs a JWT.
            function = path.split("/")[1]
            if project().function(function).verify_jwt:
                assert auth in ("anon", "user", "service"), (method, path)
    # The one exception: unsubscribing is a page a person sees, refusals included (unknown link, used link).
    assert pages == {("post", "/unsubscribe"): {"404"}}
    assert set(checked_in["paths"]["/unsubscribe"]["post"]["responses"]["410"]["content"]) == {"text/html"}
    error = checked_in["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    assert error["properties"]["error"]["required"] == ["code", "message", "details"]


def test_bodies_queries_and_answers_are_the_models_the_handlers_use(checked_in):
    paths = checked_in["paths"]
    checkout = paths["/create-checkout-session"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {ref["$ref"].rsplit("/", 1)[1] for ref in checkout["oneOf"]} == {
        "TicketCheckoutRequest", "AppointmentCheckoutRequest", "ParkingCheckoutRequest"}
    query = {p["name"]: p for p in paths["/reports/{report}"]["get"]["parameters"]}
    assert query["from"]["required"] and query["to"]["required"] and not query["group"]["required"]
    assert query["org_id"]["schema"] == {"format": "uuid", "type": "string"}
    assert set(query["report"]["schema"]["enum"]) >= {"revenue", "bookings", "transactions"}
    receipt = paths["/member-receipts/expenses/{expense_id}"]["put"]["requestBody"]["content"]
    assert set(receipt) == {"image/jpeg", "image/png", "image/webp"}
    assert set(paths["/member-reports/spending"]["get"]["responses"]["200"]["content"]) == {
        "application/json", "text/csv"}
    assert paths["/paypal-return"]["get"]["responses"]["303"]["headers"]["Location"]
    assert paths["/health"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Health"}


def _query(kind: type) -> type[BaseModel]:
    class Query(BaseModel):
        a: kind

    return Query


def test_models_named_alike_get_their_function_s_name_only_when_they_differ():
    doc = contract.document({"one": [contract.Operation("GET", query=_query(int))],
                             "two": [contract.Operation("GET", "/{thing_id}", query=_query(int))]})
    assert sorted(doc["components"]["schemas"]) == ["Error", "Query"]
    assert doc["paths"]["/two/{thing_id}"]["get"]["parameters"] == [
        {"in": "path", "name": "thing_id", "required": True, "schema": {"format": "uuid", "type": "string"}},
        {"in": "query", "name": "a", "required": True, "schema": {"type": "integer"}}]
    doc = contract.document({"one": [contract.Operation("GET", query=_query(int))],
                             "two": [contract.Operation("GET", query=_query(str))]})
    assert sorted(doc["components"]["schemas"]) == ["Error", "one.Query", "two.Query"]
    assert doc["components"]["schemas"]["two.Query"]["properties"]["a"]["type"] == "string"


def test_the_openapi_function_serves_the_document_without_sign_in(stack, checked_in):
    for url in (f"{stack.functions_url}/openapi.json",  # where clients look (the dev server's alias)
                f"{stack.functions_url}/openapi", f"{stack.functions_url}/openapi/openapi.json"):
        r = httpx.get(url)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/json"
        assert r.json() == checked_in
    r = httpx.get(f"{stack.functions_url}/openapi/other")
    assert (r.status_code, r.json()["error"]["code"]) == (404, "no_route")


def _sample(schema: dict) -> str:
    """A path parameter the handler's route accepts: an enum's first value, a hex secret, else an id."""
    if "enum" in schema:
        return schema["enum"][0]
    return uuid.uuid4().hex if "pattern" in schema else str(uuid.uuid4())


def test_every_declared_operation_is_routed(stack, db, checked_in):
    """Every method and path the contract declares reaches its handler: whatever the answer, it is never
    405 method_not_allowed or a "no such route" 404 (made-up ids are refused by the handler itself)."""
    user = db.user()
    headers = {"anon": user.headers, "user": user.headers, "service": service_headers(), "none": {}, "signature": {}}
    for path, methods in checked_in["paths"].items():
        for method, op in methods.items():
            params = {p["name"]: p["schema"] for p in op.get("parameters", ()) if p["in"] == "path"}
            url = stack.functions_url + re.sub(r"{([^}]+)}", lambda m: _sample(params[m[1]]), path)
            r = httpx.request(method.upper(), url, headers=headers[op["x-bookwell-auth"]], timeout=30,
                              follow_redirects=False)
            assert r.status_code != 405, (method, path, r.text)
            if r.status_code == 404 and r.headers.get("content-type", "").startswith("application/json"):
                assert r.json()["error"]["code"] not in ("no_route", "not_found", "unknown_report"), (method, path)
