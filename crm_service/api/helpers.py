"""What every view does the same way: read JSON and query strings, answer records and pages."""
from flask import jsonify, request, url_for
from marshmallow import ValidationError, fields

from crm_service.errors import ApiError, invalid
from crm_service.repositories.base import PageRequest
from crm_service.schemas.common import parse_sort


def json_body():
    """The request body as a dict: no body is {}; anything but a JSON object is 400."""
    if not request.get_data(cache=True):
        return {}
    if not request.is_json:
        raise ApiError(415)
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError(400, "The body is not valid JSON")
    if not isinstance(data, dict):
        raise ApiError(400, "The body must be a JSON object")
    return data


def load_body(schema, partial=False):
    return schema.load(json_body(), partial=partial)


def _raw_args(schema):
    raw = {}
    errors = {}
    for name in request.args:
        values = request.args.getlist(name)
        field = schema.fields.get(name)
        if isinstance(field, fields.List):
            raw[name] = values
        elif len(values) > 1:
            errors[name] = ["Give this parameter once."]
        else:
            raw[name] = values[0]
    if errors:
        raise invalid(errors, "Query string is invalid")
    return raw


def load_query(schema):
    """Query parameters through a strict schema: unknown ones are 422."""
    raw = _raw_args(schema)
    if "cursor" in raw and "page" in raw:
        raise invalid({"cursor": ["Use either page or cursor, not both."]}, "Query string is invalid")
    try:
        return schema.load(raw)
    except ValidationError as exc:
        raise invalid(exc.messages, "Query string is invalid") from exc


def page_request(query):
    return PageRequest(
        page=query.get("page", 1),
        size=query.get("size", 20),
        count=query.get("count", True),
        cursor=query.get("cursor"),
    )


def sort_of(query, schema, field_map=None):
    return parse_sort(query.get("sort") or schema.default_sort, field_map)


def page_response(page, item_schema):
    return jsonify({
        "items": item_schema.dump(page.items, many=True),
        "page": page.page,
        "size": page.size,
        "total": page.total,
        "pages": page.pages,
        "next_cursor": page.next_cursor,
    })


def record_response(data, status=200, location=None):
    response = jsonify(data)
    response.status_code = status
    if location:
        response.headers["Location"] = location
    return response


def created(data, endpoint, **values):
    return record_response(data, 201, url_for(endpoint, **values))


def no_content():
    return "", 204


def staff_reference(data, field, errors):
    """Swap `data[field]` for the ObjectId of an active staff user, or add a field error (422)."""
    from crm_service.db import get_db
    from crm_service.repositories.base import to_object_id
    from crm_service.repositories.users import UserRepository

    if UserRepository(get_db()).is_active_staff(data[field]):
        data[field] = to_object_id(data[field])
    else:
        errors[field] = ["Not an active staff user."]
