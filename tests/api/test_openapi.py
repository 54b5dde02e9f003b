"""The OpenAPI document is generated from the code and matches the routes exactly."""
import re

from crm_service.api.docs import openapi_path

IGNORED_ENDPOINTS = {"static", "flasgger.static", "flasgger.apidocs", "flasgger.openapi", "flasgger.oauth_redirect"}


def _app_operations(app):
    operations = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint in IGNORED_ENDPOINTS or rule.endpoint.startswith("flasgger"):
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            operations.add((openapi_path(rule), method.lower()))
    return operations


def _doc_operations(document):
    return {(path, method) for path, item in document["paths"].items() for method in item}


def test_openapi_document_is_openapi_3(client):
    document = client.get("/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"]


def test_every_route_is_documented_and_every_documented_path_exists(app, client):
    document = client.get("/openapi.json").get_json()
    assert _app_operations(app) == _doc_operations(document)


def test_every_operation_documents_its_errors_with_the_error_schema(client):
    document = client.get("/openapi.json").get_json()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert any(code.startswith("2") for code in responses), (method, path)
            for code in ("500", "503"):
                assert responses[code]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"}, (method, path, code)
            if "security" in operation:
                assert "401" in responses and "403" in responses, (method, path)
            if "{" in path:
                assert "404" in responses, (method, path)
            if "requestBody" in operation:
                assert {"400", "415", "422"} <= set(responses), (method, path)


def test_path_parameters_are_declared(client):
    document = client.get("/openapi.json").get_json()
    for path, item in document["paths"].items():
        names = set(re.findall(r"{([^}]+)}", path))
        for method, operation in item.items():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == names, (method, path)


def test_list_endpoints_document_paging_parameters(client):
    document = client.get("/openapi.json").get_json()
    customers = document["paths"]["/api/v1/customers"]["get"]
    names = {parameter["name"] for parameter in customers["parameters"]}
    assert {"page", "size", "sort", "count", "cursor", "updated_since", "q", "tags", "company_id"} <= names
    schema_ref = customers["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    page_schema = document["components"]["schemas"][schema_ref.rsplit("/", 1)[1]]
    assert {"items", "page", "size", "total", "pages", "next_cursor"} <= set(page_schema["properties"])


def test_request_bodies_come_from_marshmallow_schemas(client):
    document = client.get("/openapi.json").get_json()
    body = document["paths"]["/api/v1/customers"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    customer = document["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    assert "email" in customer["required"] and "first_name" in customer["required"]
    assert customer["properties"]["status"]["enum"] == ["lead", "prospect", "active", "inactive", "churned"]
    assert customer["properties"]["id"]["readOnly"] is True


def test_swagger_ui_page_is_served(client):
    response = client.get("/apidocs/")
    assert response.status_code == 200
    assert b"swagger-ui" in response.data
    assert b"/openapi.json" in response.data


def test_csv_export_is_documented_as_text_csv(client):
    document = client.get("/openapi.json").get_json()
    responses = document["paths"]["/api/v1/customers/export"]["get"]["responses"]
    assert set(responses["200"]["content"]) == {"text/csv"}
