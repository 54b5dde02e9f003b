"""`require(permission)`: a valid access token whose role carries the permission."""
from dataclasses import dataclass
from functools import wraps

from flask import g
from flask_jwt_extended import get_jwt, verify_jwt_in_request

from crm_service.errors import Forbidden

from .permissions import STAFF_ROLES


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


def require(*permissions, refresh=False):
    """Any authenticated user when no permission is named; otherwise all of them."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            principal = _load_principal(refresh=refresh)
            if not set(permissions) <= principal.permissions:
                raise Forbidden()
            return view(*args, **kwargs)

        wrapper.required_permissions = permissions
        wrapper.requires_auth = True
        return wrapper

    return decorator
