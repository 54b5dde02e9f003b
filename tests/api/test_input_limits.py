"""Input limits: every string and list a client may send is bounded, oversize is 422 on that field, and
nothing a client sends becomes a MongoDB operator (operator-shaped parameters are unknown, search is literal).

Driven by the app's /openapi.json, so new operations are checked as they are added.
"""
import pytest

from tests.api.campaign_world import World
from tests.api.openapi_walk import Document, fill_path, is_bounded_string
from tests.conftest import assert_error

SEARCHES = ("/api/v1/customers", "/api/v1/companies", "/api/v1/tickets", "/api/v1/products")
LITERAL_SEARCHES = (".*", "^", "a|b", "(", "[a-z]", "\\", "$where", '{"$ne": null}', ".+ .*")


@pytest.fixture(scope="module")
def world():
    return World()


@pytest.fixture(scope="module")
def document(world):
    return Document(world.client.get("/openapi.json").get_json())


def _unbounded(document, name, prop):
    """Why a writable property is unbounded, or None."""
    kind = prop.get("type")
    if kind == "string" and not is_bounded_string(prop):
        return f"{name}: string without maxLength, enum, pattern or format"
    if kind == "array":
        if "maxItems" not in prop:
            return f"{name}: array without maxItems"
        items = document.resolve(prop.get("items", {}))
        if items.get("type") == "string" and not is_bounded_string(items):
            return f"{name}[]: string without maxLength"
    if kind == "object" and "properties" not in prop and prop.get("additionalProperties", True) is not False:
        return f"{name}: free-form object"
    return None


def test_every_writable_body_field_is_bounded(document):
    found = []
    for method, path, operation in document.operations():
        body = document.json_body(operation)
        for names, prop in document.walk_properties(body or {}):
            problem = None if prop.get("readOnly") else _unbounded(document, ".".join(names), prop)
            if problem:
                found.append(f"{method} {path} {problem}")
    assert not found, "\n".join(found)


def test_every_query_parameter_is_bounded(document):
    found = []
    for method, path, operation in document.operations():
        for parameter in document.query_parameters(operation):
            problem = _unbounded(document, parameter["name"], document.resolve(parameter.get("schema", {})))
            if problem:
                found.append(f"{method} {path} {problem}")
    assert not found, "\n".join(found)


def _oversize_cases(document):
    for method, path, operation in document.operations():
        body = document.json_body(operation)
        for name, prop in ((body or {}).get("properties") or {}).items():
            prop = document.resolve(prop)
            if prop.get("readOnly"):
                continue
            if prop.get("type") == "string" and prop.get("maxLength"):
                yield method, path, "body", name, "x" * (prop["maxLength"] + 1)
            elif prop.get("type") == "array" and prop.get("maxItems"):
                yield method, path, "body", name, ["a"] * (prop["maxItems"] + 1)
        for parameter in document.query_parameters(operation):
            schema = document.resolve(parameter.get("schema", {}))
            if schema.get("type") == "string" and schema.get("maxLength"):
                yield method, path, "query", parameter["name"], "x" * (schema["maxLength"] + 1)
            elif schema.get("type") == "array" and schema.get("maxItems"):
                yield method, path, "query", parameter["name"], ["a"] * (schema["maxItems"] + 1)


def test_an_oversize_string_or_list_is_422_on_that_field(world, document):
    values = world.path_values()
    checked, wrong = 0, []
    for method, path, where, name, value in _oversize_cases(document):
        world.reset()
        kwargs = {"json": {name: value}} if where == "body" else {"query_string": {name: value}}
        response = world.client.open(fill_path(path, values), method=method, headers=world.headers(), **kwargs)
        checked += 1
        body = response.get_json(silent=True) or {}
        if response.status_code != 422 or name not in (body.get("errors") or {}):
            wrong.append((method, path, where, name, response.status_code, body.get("errors")))
    assert checked > 50
    assert not wrong, wrong


@pytest.mark.parametrize("path", SEARCHES)
@pytest.mark.parametrize("text", LITERAL_SEARCHES)
def test_search_text_is_literal_never_a_pattern(world, path, text):
    response = world.client.get(path, query_string={"q": text}, headers=world.headers())
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["items"] == []


@pytest.mark.parametrize(("path", "word"), [
    ("/api/v1/customers", "Cust"), ("/api/v1/companies", "Own"), ("/api/v1/tickets", "Help"),
    ("/api/v1/products", "Tour")])
def test_search_finds_records_so_empty_literal_results_mean_something(world, path, word):
    response = world.client.get(path, query_string={"q": word}, headers=world.headers())
    assert response.get_json()["items"]


@pytest.mark.parametrize("path", SEARCHES)
def test_search_text_over_100_characters_is_422(world, path):
    response = world.client.get(path, query_string={"q": "a" * 101}, headers=world.headers())
    assert "q" in assert_error(response, 422, "validation_error")["errors"]


@pytest.mark.parametrize("parameter", ["status[$ne]", "$where", "q[$regex]", "created_at[$gt]", "sort[$ne]"])
def test_operator_shaped_query_parameters_are_unknown_on_every_list(world, document, parameter):
    lists = [path for method, path, operation in document.operations()
             if method == "GET" and document.query_parameters(operation) and "page" in
             {p["name"] for p in document.query_parameters(operation)}]
    assert len(lists) > 10
    values = world.path_values()
    for path in lists:
        response = world.client.get(fill_path(path, values), query_string={parameter: "x"}, headers=world.headers())
        assert parameter in assert_error(response, 422, "validation_error")["errors"], path


def test_operators_instead_of_credentials_never_log_in(world):
    before = world.snapshot()
    response = world.client.post("/api/v1/auth/login",
                                 json={"username": {"$ne": None}, "password": {"$ne": None}})
    errors = assert_error(response, 422, "validation_error")["errors"]
    assert set(errors) == {"username", "password"}
    assert world.snapshot() == before


def test_operators_instead_of_strings_are_422_and_store_nothing(world):
    world.reset()
    before = world.snapshot()
    response = world.client.post("/api/v1/customers", headers=world.headers(), json={
        "first_name": {"$ne": None}, "email": {"$gt": ""}, "notes": {"$where": "1"}, "tags": [{"$regex": ".*"}]})
    errors = assert_error(response, 422, "validation_error")["errors"]
    assert {"first_name", "email", "notes", "tags"} <= set(errors)
    assert world.snapshot() == before


def test_an_operator_as_a_body_key_is_an_unknown_field(world):
    customer_id = world.ids["customer_id"][0]
    response = world.client.patch(f"/api/v1/customers/{customer_id}", headers=world.headers(),
                                  json={"$set": {"status": "active"}, "first_name": "Eve"})
    assert "$set" in assert_error(response, 422, "validation_error")["errors"]
    assert world.client.get(f"/api/v1/customers/{customer_id}", headers=world.headers()).get_json()[
        "first_name"] != "Eve"
