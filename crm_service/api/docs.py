"""OpenAPI 3 from the code: each view declares its schemas with @operation; build_spec() walks the routes."""
import copy
import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema, fields

from crm_service.idempotency import openapi_parameter
from crm_service.schemas.common import ListQuerySchema, UtcDateTime

ERROR_DESCRIPTIONS = {
    400: "Malformed JSON or a body that is not a JSON object",
    401: "Missing, invalid, expired or revoked token, or bad credentials",
    403: "The role lacks the permission",
    404: "No such record, or one the caller may not know exists",
    409: "A unique value is already in use, or a request with this Idempotency-Key is still running",
    412: "If-Match does not match the record's current version",
    413: "The request body is too large",
    415: "The body is not application/json",
    422: "Invalid body or query string; field errors in `errors`",
    429: "Too many requests; see Retry-After",
    500: "Unexpected error (never a traceback)",
    503: "The database cannot be reached",
}


class ErrorSchema(Schema):
    status = fields.Integer(required=True)
    code = fields.String(required=True, metadata={"example": "validation_error"})
    message = fields.String(required=True)
    errors = fields.Dict(metadata={"description": "Field errors shaped like the request body"})
    request_id = fields.String(allow_none=True)


def operation(summary, *, tags, query=None, body=None, response=None, status=200, errors=(),
              paged=False, description=None, public=False, body_partial=False, content_type=None,
              response_content_type=None):
    """Declare what a view takes and answers; the OpenAPI document is built from this."""

    def decorator(view):
        view.api_doc = {
            "summary": summary,
            "tags": list(tags),
            "query": query,
            "body": body,
            "body_partial": body_partial,
            "response": response,
            "status": status,
            "errors": tuple(errors),
            "paged": paged,
            "description": description,
            "public": public,
            "content_type": content_type,
            "response_content_type": response_content_type,
        }
        return view

    return decorator


def _schema_name(schema):
    schema_class = schema if isinstance(schema, type) else type(schema)
    name = schema_class.__name__.removesuffix("Schema")
    if not isinstance(schema, type) and schema.partial:
        name += "Patch"
    return name


_page_schemas = {}


def _page_schema(item_schema):
    name = _schema_name(item_schema) + "PageSchema"
    if name in _page_schemas:
        return _page_schemas[name]
    _page_schemas[name] = type(name, (Schema,), {
        "items": fields.List(fields.Nested(item_schema), required=True),
        "page": fields.Integer(allow_none=True),
        "size": fields.Integer(),
        "total": fields.Integer(allow_none=True),
        "pages": fields.Integer(allow_none=True),
        "next_cursor": fields.String(allow_none=True),
    })
    return _page_schemas[name]


def openapi_path(rule):
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)


def _errors_for(doc, rule, method):
    statuses = {500, 503}
    if not doc["public"]:
        statuses |= {401, 403}
    if doc["query"] is not None or doc["body"] is not None:
        statuses.add(422)
    if doc["body"] is not None:
        statuses |= {400, 413, 415}
    if rule.arguments:
        statuses.add(404)
    if rule.rule.startswith("/api/"):
        statuses.add(429)
    if openapi_parameter(method, rule.rule):
        statuses |= {409, 422}  # Idempotency-Key still in flight; reused with another body
    statuses |= set(doc["errors"])
    return sorted(statuses)


_spec_cache = {}


def build_spec(app, title, version):
    """The OpenAPI document for `app`'s routes, built once per process for the same routes."""
    key = (title, version, tuple(sorted(
        (rule.rule, rule.endpoint, tuple(sorted(rule.methods))) for rule in app.url_map.iter_rules()
    )))
    if key not in _spec_cache:
        _spec_cache[key] = _build_spec(app, title, version)
    return copy.deepcopy(_spec_cache[key])


def _build_spec(app, title, version):
    spec = APISpec(
        title=title,
        version=version,
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin(schema_name_resolver=_schema_name)],
        info={"description": "CRM service API. Every error uses the Error schema."},
    )
    ma_plugin = spec.plugins[0]
    ma_plugin.converter.add_attribute_function(_datetime_format)
    spec.components.schema("Error", schema=ErrorSchema)
    spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    paths = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = app.view_functions.get(rule.endpoint)
        doc = getattr(view, "api_doc", None)
        if doc is None:
            continue
        operations = paths.setdefault(openapi_path(rule), {})
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            operations[method.lower()] = _operation(doc, rule, method)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def _operation(doc, rule, method):
    operation = {
        "summary": doc["summary"],
        "tags": doc["tags"],
        "operationId": f"{method.lower()}_{rule.endpoint.replace('.', '_')}",
        "responses": {},
    }
    if doc["description"]:
        operation["description"] = doc["description"]
    if not doc["public"]:
        operation["security"] = [{"bearerAuth": []}]
    parameters = [
        {"in": "path", "name": name, "required": True, "schema": {"type": "string"}}
        for name in sorted(rule.arguments)
    ]
    if doc["query"] is not None:
        parameters.append({"in": "query", "schema": doc["query"]})
    idempotency_key = openapi_parameter(method, rule.rule)
    if idempotency_key:
        parameters.append(idempotency_key)
    if parameters:
        operation["parameters"] = parameters
    if doc["body"] is not None:
        body = doc["body"]
        if doc["body_partial"]:
            body = body(partial=True)
        operation["requestBody"] = {
            # A partial update without a body changes nothing and is accepted.
            "required": not doc["body_partial"],
            "content": {doc["content_type"] or "application/json": {"schema": body}},
        }
    status = doc["status"]
    if status == 204:
        operation["responses"]["204"] = {"description": "No content"}
    elif status == 304:
        operation["responses"]["200"] = {"description": "OK"}
    else:
        schema = doc["response"]
        if schema is not None and doc["paged"]:
            schema = _page_schema(schema)
        response = {"description": "Success"}
        if schema is not None:
            response["content"] = {"application/json": {"schema": schema}}
        elif doc["response_content_type"]:
            response["content"] = {doc["response_content_type"]: {"schema": {"type": "string"}}}
        operation["responses"][str(status)] = response
    for error in _errors_for(doc, rule, method):
        operation["responses"][str(error)] = {
            "description": ERROR_DESCRIPTIONS[error],
            "content": {"application/json": {"schema": "Error"}},
        }
    return operation


def _datetime_format(self, field, **kwargs):
    if isinstance(field, UtcDateTime):
        return {"type": "string", "format": "date-time"}
    return {}


__all__ = ["ListQuerySchema", "build_spec", "operation"]
