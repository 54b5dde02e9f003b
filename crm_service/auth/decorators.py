"""`require(permission)`: a valid access token whose role carries the permission."""
from dataclasses import dataclass
from functools import wraps

from flask import current_app, g, request
from flask_jwt_extended import get_jwt, verify_jwt_in_request
from flask_jwt_extended.exceptions import JWTExtendedException
from jwt.exceptions import PyJWTError

from crm_service.errors import Forbidden

from .permissions import STAFF_ROLES

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


def _load_principal(refresh=False):
    verify_jwt_in_request(refresh=refresh)
    claims = get_jwt()
    g.principal = Principal(
        user_id=claims["sub"],
        role=claims.get("role", ""),
        permissions=frozenset(claims.get("permissions", ())),
        sid=claims.get("sid", ""),
        customer_id=claims.get("cid"),
    )
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
