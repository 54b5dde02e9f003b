"""ETags from a record's version: 304 on If-None-Match, 412 on a stale If-Match."""
from flask import request

from crm_service.errors import ApiError

from .helpers import record_response


def etag_of(record):
    return f'"{record["_id"]}-{record.get("version", 1)}"'


def _listed(header):
    return [part.strip().removeprefix("W/") for part in header.split(",") if part.strip()]


def check_if_match(record, force=False):
    """412 when the client's If-Match names another version (or when an update lost a race)."""
    header = request.headers.get("If-Match")
    if force or (header and header.strip() != "*" and etag_of(record) not in _listed(header)):
        raise ApiError(412, "The record has changed since you read it; read it again")


def record_with_etag(data, record, status=200, location=None):
    etag = etag_of(record)
    if status == 200 and request.method == "GET" and etag in _listed(request.headers.get("If-None-Match", "")):
        response = record_response({}, 304)
        response.set_data(b"")
    else:
        response = record_response(data, status, location)
    response.headers["ETag"] = etag
    return response
