"""ETags from a record's version: 304 on If-None-Match, 412 on a stale If-Match."""
from flask import request

from crm_service.errors import ApiError

from .helpers import no_content, record_response


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


def delete_versioned(entity, current, delete, customer_id=None):
    """Delete `current` while it is still at its version (else 412), leave a tombstone for sync, audit it."""
    from crm_service.db import get_db
    from crm_service.repositories.tombstones import TombstoneRepository
    from crm_service.services import audit

    if not delete(current):
        check_if_match(current, force=True)
    TombstoneRepository(get_db()).record(entity, current["_id"], customer_id)
    audit.record("delete", entity, current["_id"], before=current)
    return no_content()
