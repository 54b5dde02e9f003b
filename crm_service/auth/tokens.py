"""Issuing and checking JWTs: claims, one session per login, and 401s in the one error shape."""
import uuid

from flask import current_app
from flask_jwt_extended import create_access_token, create_refresh_token

from crm_service.db import get_db
from crm_service.errors import error_response
from crm_service.extensions import jwt
from crm_service.repositories.sessions import SessionRepository

from .permissions import permissions_for


def issue_tokens(user, sid=None):
    """Access and refresh tokens for `user`; a new login opens a new session."""
    role = user["role"]
    claims = {"role": role, "permissions": permissions_for(role), "sid": sid or uuid.uuid4().hex}
    if user.get("customer_id"):
        claims["cid"] = str(user["customer_id"])
    identity = str(user["_id"])
    access = create_access_token(identity=identity, additional_claims=claims)
    # The refresh token's id is chosen here, so the new token need not be decoded again to learn it.
    refresh_jti = str(uuid.uuid4())
    refresh = create_refresh_token(identity=identity, additional_claims={**claims, "jti": refresh_jti})
    sessions = SessionRepository(get_db())
    if sid is None:
        sessions.open(claims["sid"], user["_id"], refresh_jti, current_app.config["JWT_REFRESH_TOKEN_EXPIRES"])
    return {
        "access_token": access,
        "refresh_token": refresh,
        "token_type": "Bearer",
        "expires_in": int(current_app.config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds()),
    }, refresh_jti


def _unauthorized(message):
    return error_response(401, message, headers={"WWW-Authenticate": "Bearer"})


@jwt.token_in_blocklist_loader
def is_revoked(_header, payload):
    sid = payload.get("sid")
    return not sid or not SessionRepository(get_db()).is_live(sid)


@jwt.unauthorized_loader
def _missing_token(_reason):
    return _unauthorized("Missing or malformed Authorization header")


@jwt.invalid_token_loader
def _invalid_token(_reason):
    return _unauthorized("Invalid token")


@jwt.expired_token_loader
def _expired_token(_header, _payload):
    return _unauthorized("Token has expired")


@jwt.revoked_token_loader
def _revoked_token(_header, _payload):
    return _unauthorized("Token has been revoked")


@jwt.needs_fresh_token_loader
def _needs_fresh(_header, _payload):
    return _unauthorized("A fresh login is required")


@jwt.user_lookup_error_loader
def _user_lookup_error(_header, _payload):
    return _unauthorized("Invalid token")


@jwt.token_verification_failed_loader
def _verification_failed(_header, _payload):
    return _unauthorized("Invalid token")
