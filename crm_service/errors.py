"""The one error shape, and the handlers that turn every error source into it."""
import logging
import re
from http import HTTPStatus

from flask import g, jsonify
from marshmallow import ValidationError
from pymongo.errors import (
    AutoReconnect,
    ConnectionFailure,
    DuplicateKeyError,
    PyMongoError,
    ServerSelectionTimeoutError,
)
from werkzeug.exceptions import HTTPException

log = logging.getLogger("crm_service.errors")

CODES = {
    400: ("bad_request", "The request is malformed"),
    401: ("unauthorized", "Authentication is required"),
    403: ("forbidden", "You do not have permission to do this"),
    404: ("not_found", "The requested resource was not found"),
    405: ("method_not_allowed", "The method is not allowed for this resource"),
    409: ("conflict", "The request conflicts with an existing record"),
    412: ("precondition_failed", "The record has changed since you read it"),
    413: ("payload_too_large", "The request body is too large"),
    415: ("unsupported_media_type", "Request bodies must be application/json"),
    422: ("validation_error", "Request is invalid"),
    429: ("rate_limited", "Too many requests"),
    500: ("internal_error", "An unexpected error occurred"),
    503: ("unavailable", "The service is temporarily unavailable"),
}


class ApiError(Exception):
    """An error the API answers on purpose, in the one shape."""

    def __init__(self, status, message=None, errors=None, headers=None):
        super().__init__(message)
        self.status = status
        self.code, default_message = CODES.get(status) or _fallback(status)
        self.message = message or default_message
        self.errors = errors
        self.headers = headers or {}


class NotFound(ApiError):
    def __init__(self, message="The requested resource was not found"):
        super().__init__(404, message)


class Forbidden(ApiError):
    def __init__(self, message=None):
        super().__init__(403, message)


class Unauthorized(ApiError):
    def __init__(self, message="Authentication is required"):
        super().__init__(401, message)


class Conflict(ApiError):
    def __init__(self, message, errors=None):
        super().__init__(409, message, errors)


def invalid(errors, message="Request is invalid"):
    """A 422 whose field errors are shaped like the body."""
    return ApiError(422, message, errors)


def _fallback(status):
    """Code and message for a status outside the table (e.g. 408 from werkzeug): from its HTTP phrase."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        return "error", "Error"
    return re.sub(r"[^a-z0-9]+", "_", phrase.lower()).strip("_"), phrase


def error_response(status, message=None, errors=None, headers=None):
    code, default_message = CODES.get(status) or _fallback(status)
    body = {
        "status": status,
        "code": code,
        "message": message or default_message,
        "request_id": getattr(g, "request_id", None),
    }
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    if status == 401:
        response.headers.setdefault("WWW-Authenticate", "Bearer")  # RFC 9110: a 401 names its scheme
    return response


DUP_KEY = re.compile(r"dup key: \{ ?([A-Za-z_][\w.]*):")
STORAGE_FIELDS = {"username_key": "username", "name_key": "name"}


def _duplicate_field(exc):
    """The API field behind a unique-index clash, from the server's details or its message; None if unknown."""
    details = getattr(exc, "details", None) or {}
    field = next(iter(details.get("keyPattern") or {}), None)
    if field is None:
        match = DUP_KEY.search(str(exc))
        field = match.group(1) if match else None
    if field is None or field.startswith("_"):
        return None
    return STORAGE_FIELDS.get(field, field)


def register_error_handlers(app):
    @app.errorhandler(ApiError)
    def handle_api_error(exc):
        return error_response(exc.status, exc.message, exc.errors, exc.headers)

    @app.errorhandler(ValidationError)
    def handle_validation_error(exc):
        errors = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        return error_response(422, "Request is invalid", errors)

    @app.errorhandler(HTTPException)
    def handle_http_error(exc):
        # Only the headers that carry meaning (Allow, Retry-After); never werkzeug's HTML or wording.
        headers = {name: value for name, value in exc.get_headers() if name in ("Allow", "Retry-After")}
        return error_response(exc.code or 500, headers=headers)

    @app.errorhandler(DuplicateKeyError)
    def handle_duplicate(exc):
        field = _duplicate_field(exc)
        errors = {field: ["This value is already in use."]} if field else None
        return error_response(409, "A record with this value already exists", errors)

    @app.errorhandler(ServerSelectionTimeoutError)
    @app.errorhandler(ConnectionFailure)
    @app.errorhandler(AutoReconnect)
    def handle_unavailable(exc):
        log.warning("database unavailable: %s", type(exc).__name__)
        return error_response(503, "The database cannot be reached", headers={"Retry-After": "5"})

    @app.errorhandler(PyMongoError)
    def handle_database_error(exc):
        log.error("database error: %s", exc)
        return error_response(500)

    @app.errorhandler(Exception)
    def handle_unexpected(exc):
        log.exception("unhandled error")
        return error_response(500)
