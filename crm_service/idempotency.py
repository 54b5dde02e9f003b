"""Idempotency-Key on POST (SPEC §3): a retry replays the first answer and creates nothing."""
import hashlib
import hmac
import logging
import re
import time

from flask import current_app, g, request
from pymongo.errors import PyMongoError

from .db import get_db
from .errors import ApiError, invalid
from .repositories.base import utcnow
from .repositories.idempotency import DONE, IdempotencyRepository

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_PATTERN = re.compile(r"^[\x20-\x7e]{1,255}$")
API_PREFIX = "/api/v1/"
# Endpoints that issue tokens or take passwords or reset tokens: the key is ignored there, so no
# answer with a secret is ever stored and nothing is replayed without the credentials being checked.
IGNORED_PATHS = frozenset({
    "/api/v1/auth/login",
    "/api/v1/auth/refresh",
    "/api/v1/auth/logout",
    "/api/v1/auth/password",
    "/api/v1/auth/password-reset/confirm",
})
# A body that names one of these anywhere is never stored, whichever endpoint answered it.
SECRET_FIELDS = frozenset({"access_token", "refresh_token", "password", "password_hash", "token"})
STORED_HEADERS = ("Content-Type", "Location", "ETag")
MAX_STORED_BYTES = 4 * 1024 * 1024
POLL_SECONDS = 0.05
DEFAULT_WAIT_SECONDS = 10
# Longer than a request may run (gunicorn's timeout): a claim older than this was left by a dead worker.
DEFAULT_LEASE_SECONDS = 120

log = logging.getLogger("crm_service.idempotency")


def init_app(app):
    """Claim or replay before the view runs; store or release the claim once the answer is known."""
    app.before_request(_before_request)
    app.after_request(_after_request)
    app.teardown_request(_teardown_request)


def openapi_parameter(method, path):
    """The OpenAPI header parameter for an operation that honours the key, else None (for api/docs.py)."""
    if method.upper() != "POST" or not path.startswith(API_PREFIX) or path in IGNORED_PATHS:
        return None
    return {
        "in": "header",
        "name": HEADER,
        "required": False,
        "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^[\x20-\x7e]+$"},
        "description": "Makes a retry safe: the same key and body within IDEMPOTENCY_TTL_SECONDS (24 h) replay "
                       "the first successful answer (status, body, Location, ETag; header Idempotent-Replayed: "
                       "true) and create nothing. Keys belong to the caller (its user, or its address when "
                       "anonymous) and this method and path. Another body under a used key is 422; a key "
                       "whose first request is still running is 409 after up to 10 s. Errors are not stored.",
    }


def _settings():
    config = current_app.config
    return (config["IDEMPOTENCY_TTL_SECONDS"], config.get("IDEMPOTENCY_LEASE_SECONDS", DEFAULT_LEASE_SECONDS),
            config.get("IDEMPOTENCY_WAIT_SECONDS", DEFAULT_WAIT_SECONDS))


def _applies():
    if request.method != "POST" or not request.path.startswith(API_PREFIX) or request.url_rule is None:
        return False
    if request.path in IGNORED_PATHS:
        return False
    # A body over the general limit is the view's to refuse (413) or, for CSV imports, to read with
    # its own larger limit: reading it here first would answer 413 for an import that is allowed.
    limit = request.max_content_length
    return not (limit is not None and (request.content_length or 0) > limit)


def _before_request():
    key = request.headers.get(HEADER)
    if key is None or not _applies():
        return None
    if not KEY_PATTERN.match(key):
        raise invalid({HEADER: ["Use 1 to 255 printable ASCII characters."]}, "The Idempotency-Key header is invalid")
    owner = _caller()
    if owner is None:
        return None
    secret = current_app.config["JWT_SECRET_KEY"].encode()
    scope = _digest(secret, owner, request.method, request.path, key)
    fields = {"owner": owner if owner.startswith("user:") else "anonymous", "method": request.method,
              "path": request.path, "fingerprint": _fingerprint(secret)}
    return _claim_or_replay(IdempotencyRepository(get_db()), scope, fields)


def _claim_or_replay(repository, scope, fields):
    ttl, lease, wait = _settings()
    deadline = time.monotonic() + wait
    while True:
        token, record = repository.claim(scope, fields, ttl, lease)
        if record is not None:
            now = utcnow()
            if record["expires_at"] <= now:
                token = repository.take_over(record, fields, ttl, lease)
            elif record["fingerprint"] != fields["fingerprint"]:
                raise invalid({HEADER: ["This key was already used with a different request body."]},
                              "The Idempotency-Key was already used with a different request")
            elif record["state"] == DONE:
                return _replay(record)
            elif record["lease_until"] <= now:
                token = repository.take_over(record, fields, ttl, lease)
        if token is not None:
            g.idempotency_claim = (scope, token)
            return None
        if time.monotonic() >= deadline:
            raise ApiError(409, "A request with this Idempotency-Key is still in progress; retry later",
                           {HEADER: ["A request with this key is still in progress."]}, {"Retry-After": "1"})
        time.sleep(POLL_SECONDS)


def _replay(record):
    response = current_app.response_class(bytes(record["body"]), status=record["status"])
    for name, value in record["headers"].items():
        response.headers[name] = value
    response.headers[REPLAYED_HEADER] = "true"
    return response


def _after_request(response):
    claim = g.pop("idempotency_claim", None)
    if claim is None:
        return response
    scope, token = claim
    repository = IdempotencyRepository(get_db())
    try:
        if _storable(response):
            headers = {name: response.headers[name] for name in STORED_HEADERS if name in response.headers}
            if not repository.complete(scope, token, response.status_code, response.get_data(), headers,
                                       current_app.config["IDEMPOTENCY_TTL_SECONDS"]):
                log.warning("idempotency claim was taken over before the answer was stored")
        else:
            repository.release(scope, token)
    except PyMongoError as exc:
        # The answer itself stands; a retry finds the claim again once its lease runs out.
        log.error("idempotency record not updated: %s", type(exc).__name__)
    return response


def _teardown_request(_exc):
    """A claim still held here means the answer never went out (an error after the view): let a retry run."""
    claim = g.pop("idempotency_claim", None)
    if claim is not None:
        try:
            IdempotencyRepository(get_db()).release(*claim)
        except PyMongoError as exc:
            log.error("idempotency claim not released: %s", type(exc).__name__)


def _storable(response):
    """Only successful answers are kept; errors are answered before anything is written, so a retry may run."""
    if not 200 <= response.status_code < 300 or response.is_streamed or response.direct_passthrough:
        return False
    body = response.get_data()
    if len(body) > MAX_STORED_BYTES:
        return False
    return not (response.is_json and _names_a_secret(response.get_json(silent=True)))


def _names_a_secret(value):
    if isinstance(value, dict):
        return any(name in SECRET_FIELDS or _names_a_secret(item) for name, item in value.items())
    if isinstance(value, list):
        return any(_names_a_secret(item) for item in value)
    return False


def _caller():
    """Whose key this is: the token's user, or the client's address on a public view; None to leave it be.

    The token was checked once before this hook (`g.authentication`, set by the request hooks in
    create_app, revocation included); a request whose token failed is left to the view (401), so
    nothing is ever replayed to a caller the view would refuse. Behind trusted proxies ProxyFix has
    made `remote_addr` the client's own address.
    """
    view = current_app.view_functions.get(request.endpoint)
    if not getattr(view, "requires_auth", False):
        return "address:" + (request.remote_addr or "")
    outcome = g.get("authentication")
    if outcome is None or outcome.error is not None or outcome.principal is None:
        return None
    return "user:" + str(outcome.principal.user_id)


def _digest(secret, *parts):
    """A keyed hash: neither the key nor a body (which may hold a password) can be recovered from it."""
    mac = hmac.new(secret, digestmod=hashlib.sha256)
    for part in parts:
        data = part if isinstance(part, bytes) else str(part).encode()
        mac.update(len(data).to_bytes(8, "big"))
        mac.update(data)
    return mac.hexdigest()


def _fingerprint(secret):
    """What makes two requests the same: content type, query string and body bytes.

    A multipart body is compared by its fields and files, since each send picks a new boundary.
    """
    body = request.get_data(cache=True)
    if request.mimetype == "multipart/form-data":
        try:
            parts = [f"{name}={value}" for name, value in sorted(request.form.items(multi=True))]
            for name, upload in sorted(request.files.items(multi=True), key=lambda item: item[0]):
                parts += [f"{name}:{upload.filename}:{upload.mimetype}", upload.stream.read()]
                upload.stream.seek(0)
            return _digest(secret, request.mimetype, request.query_string, *parts)
        except ValueError:
            pass  # not a readable form: the view will say so; compare the bytes meanwhile
    return _digest(secret, request.headers.get("Content-Type", ""), request.query_string, body)
