"""`require(permission)`: a valid access token whose role carries the permission."""
import hashlib
import threading
import time
from dataclasses import dataclass
from functools import wraps

from flask import current_app, g, request
from flask_jwt_extended import get_jwt, verify_jwt_in_request
from flask_jwt_extended.exceptions import JWTExtendedException, RevokedTokenError
from jwt.exceptions import PyJWTError

from crm_service.errors import Forbidden

from .permissions import STAFF_ROLES
from .tokens import is_revoked  # the check flask-jwt-extended runs on the full path

# What can go wrong with a bearer token; anything else (the database is down) is not a 401.
TOKEN_ERRORS = (JWTExtendedException, PyJWTError)


@dataclass(frozen=True)
class Principal:
    user_id: str
    role: str
    permissions: frozenset
    sid: str
    customer_id: str | None

    @property
    def is_staff(self):
        return self.role in STAFF_ROLES

    @property
    def is_admin(self):
        return self.role == "admin"

    @property
    def is_customer(self):
        return self.role == "customer"


@dataclass(frozen=True)
class Authentication:
    """The outcome of checking this request's token once: a principal, or the error to answer with."""

    refresh: bool
    principal: Principal | None = None
    error: Exception | None = None


def current_principal():
    return g.principal


class VerifiedTokens:
    """Access tokens this worker has already verified, keyed by the SHA-256 of the Authorization header.

    A client sends the same token, byte for byte, on every request until it expires, and the
    signature and claims of those bytes cannot change: checking them once per worker is enough.
    PyJWT reads a token four times per check here, each time testing every character in Python
    (~0.45 ms for a token carrying an admin's 53 permissions). Expiry and revocation (the login's
    session) are still checked on every request; refresh tokens always take the full path.
    An entry is a digest, the expiry and the Principal (whose permission set is shared by every
    token naming the same permissions): a few hundred bytes, so a full cache stays near 1 MiB.
    One cache per app, so apps with other secrets (tests) never share entries.
    """

    def __init__(self, capacity=4096):
        self.capacity = capacity
        self._entries = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(header):
        return hashlib.sha256(header.encode()).digest()

    def get(self, header):
        """The Principal of a verified, unexpired token, else None."""
        key = self._key(header)
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, principal = entry
        if time.time() >= expires_at:  # the full path answers with the right 401
            self._entries.pop(key, None)
            return None
        return principal

    def put(self, header, claims, principal):
        if not header or "exp" not in claims:
            return
        with self._lock:
            while len(self._entries) >= self.capacity:
                self._entries.pop(next(iter(self._entries)), None)  # the oldest first
            self._entries[self._key(header)] = (claims["exp"], principal)


_PERMISSION_SETS = {}


def _permission_set(names):
    """One frozenset per distinct list of permissions (in practice: per role)."""
    key = tuple(names)
    found = _PERMISSION_SETS.get(key)
    if found is None:
        if len(_PERMISSION_SETS) > 64:  # never more than a few roles' worth
            _PERMISSION_SETS.clear()
        found = _PERMISSION_SETS[key] = frozenset(key)
    return found


def verified_tokens(app=None):
    app = app or current_app
    cache = app.extensions.get("crm_verified_tokens")
    if cache is None:
        cache = app.extensions.setdefault("crm_verified_tokens", VerifiedTokens())
    return cache


def _load_principal(refresh=False):
    header = request.headers.get("Authorization", "")
    if not refresh:
        principal = verified_tokens().get(header)
        if principal is not None:
            if is_revoked({}, {"sid": principal.sid}):
                raise RevokedTokenError({}, {"sub": principal.user_id, "sid": principal.sid})
            g.principal = principal
            return principal
    verify_jwt_in_request(refresh=refresh)
    claims = get_jwt()
    g.principal = Principal(
        user_id=claims["sub"],
        role=claims.get("role", ""),
        permissions=_permission_set(claims.get("permissions", ())),
        sid=claims.get("sid", ""),
        customer_id=claims.get("cid"),
    )
    if not refresh:
        verified_tokens().put(header, claims, g.principal)
    return g.principal


def authenticate_request():
    """Check the token once, before the view, when the view requires one; None for other requests.

    Runs in a before_request hook so the rate limits know the user; `require` then reuses the
    outcome (and raises its error, so every 401 is answered exactly as before). Preflights
    (OPTIONS) never carry a token and never reach the view.
    """
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    if not getattr(view, "requires_auth", False) or request.method == "OPTIONS":
        return None
    refresh = view.refresh_token
    try:
        outcome = Authentication(refresh, principal=_load_principal(refresh=refresh))
    except TOKEN_ERRORS as exc:
        outcome = Authentication(refresh, error=exc)
    g.authentication = outcome
    return outcome


def require(*permissions, refresh=False):
    """Any authenticated user when no permission is named; otherwise all of them."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            outcome = g.get("authentication")
            if outcome is None or outcome.refresh != refresh:
                principal = _load_principal(refresh=refresh)  # not checked before the view (a direct call)
            elif outcome.error is not None:
                raise outcome.error
            else:
                principal = outcome.principal
            if not set(permissions) <= principal.permissions:
                raise Forbidden()
            return view(*args, **kwargs)

        wrapper.required_permissions = permissions
        wrapper.requires_auth = True
        wrapper.refresh_token = refresh
        return wrapper

    return decorator
