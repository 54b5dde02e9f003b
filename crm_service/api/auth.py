"""Register, log in, refresh, log out, own profile and password change."""
from flask import Blueprint, current_app, url_for
from flask_jwt_extended import get_jwt
from marshmallow import Schema, fields

from crm_service.auth.decorators import current_principal, require
from crm_service.auth.passwords import check_password, hash_password
from crm_service.auth.tokens import issue_tokens
from crm_service.db import get_db
from crm_service.errors import ApiError, Forbidden, Unauthorized, invalid
from crm_service.repositories.customers import CustomerRepository
from crm_service.repositories.login_failures import LoginFailureRepository
from crm_service.repositories.sessions import SessionRepository
from crm_service.repositories.users import UserRepository
from crm_service.schemas.customers import CustomerSchema
from crm_service.schemas.users import (
    LoginSchema,
    MeUpdateSchema,
    PasswordChangeSchema,
    RegisterSchema,
    TokenSchema,
    UserSchema,
)
from crm_service.services import audit
from crm_service.services.accounts import register_customer, update_profile

from .docs import operation
from .helpers import load_body, no_content, record_response

bp = Blueprint("auth", __name__, url_prefix="/api/v1/auth")

register_schema = RegisterSchema()
login_schema = LoginSchema()
me_update_schema = MeUpdateSchema()
password_schema = PasswordChangeSchema()
user_schema = UserSchema()
customer_schema = CustomerSchema(exclude=("notes", "owner_id"))
BAD_CREDENTIALS = "Invalid username or password"


class RegisteredSchema(Schema):
    user = fields.Nested(UserSchema)
    customer = fields.Nested(CustomerSchema)


@bp.post("/register")
@operation("Register as a customer (creates the user and its customer record)", tags=["auth"],
           body=RegisterSchema, response=RegisteredSchema, status=201, errors=(403, 409), public=True,
           description="`role` may be omitted or `customer`; any other role is 403 and creates nothing. "
                       "`company` links an existing company by case-insensitive name, or creates it.")
def register():
    data = load_body(register_schema)
    if data.get("role") not in (None, "customer"):
        raise Forbidden("Self-registration can only create customer accounts")
    user, customer = register_customer(data)
    # Nobody is logged in: the new user is the actor of its own registration.
    audit.record("create", "users", user["_id"], after=user, redact=("password",), actor=user)
    audit.record("create", "customers", customer["_id"], after=customer, actor=user)
    body = {"user": user_schema.dump(user), "customer": customer_schema.dump(customer)}
    return record_response(body, 201, url_for("customers.get_customer", customer_id=str(customer["_id"])))


@bp.post("/login")
@operation("Log in with username or email", tags=["auth"], body=LoginSchema, response=TokenSchema, public=True,
           errors=(401, 429),
           description="Unknown user, wrong password and inactive account all answer 401 `Invalid username or "
                       "password`. After 5 failures for one account within 15 minutes every login for it is 429 "
                       "with `Retry-After` until the window ends.")
def login():
    data = load_body(login_schema)
    db = get_db()
    users, failures = UserRepository(db), LoginFailureRepository(db)
    user = users.find_for_login(data["username"])
    failure_key = str(user["_id"]) if user else "unknown:" + data["username"].strip().lower()
    config = current_app.config
    retry_after = failures.blocked_for(failure_key, config["LOGIN_MAX_FAILURES"])
    if retry_after:
        raise ApiError(429, "Too many failed logins; try again later", headers={"Retry-After": str(retry_after)})
    password_ok = check_password(data["password"], user.get("password_hash") if user else None)
    if not (user and password_ok and user.get("is_active", True)):
        failures.record_failure(failure_key, config["LOGIN_FAILURE_WINDOW_SECONDS"])
        raise Unauthorized(BAD_CREDENTIALS)
    failures.clear(failure_key)
    tokens, _ = issue_tokens(user)
    user.pop("password_hash", None)
    return record_response({**tokens, "user": user_schema.dump(user)})


@bp.post("/refresh")
@require(refresh=True)
@operation("Swap a refresh token (as Bearer) for new access and refresh tokens", tags=["auth"],
           response=TokenSchema)
def refresh():
    claims = get_jwt()
    db = get_db()
    sessions = SessionRepository(db)
    user = UserRepository(db).get(claims["sub"])
    if user is None or not user.get("is_active", True):
        sessions.revoke(claims["sid"], "user inactive")
        raise Unauthorized("Token has been revoked")
    tokens, new_jti = issue_tokens(user, sid=claims["sid"])
    if not sessions.rotate(claims["sid"], claims["jti"], new_jti):
        # A spent refresh token came back: someone holds a copy. End the whole login.
        sessions.revoke(claims["sid"], "refresh token reused")
        raise Unauthorized("Token has been revoked")
    return record_response({**tokens, "user": user_schema.dump(user)})


@bp.post("/logout")
@require()
@operation("Log out: revokes this access token and its refresh token", tags=["auth"], status=204)
def logout():
    SessionRepository(get_db()).revoke(current_principal().sid, "logout")
    return no_content()


@bp.get("/me")
@require()
@operation("Own profile", tags=["auth"], response=UserSchema)
def get_me():
    user = UserRepository(get_db()).get(current_principal().user_id)
    if user is None:
        raise Unauthorized("Token has been revoked")
    return record_response(user_schema.dump(user))


@bp.route("/me", methods=["PATCH", "PUT"])
@require()
@operation("Change own names and phone (a customer user's customer record follows)", tags=["auth"],
           body=MeUpdateSchema, body_partial=True, response=UserSchema)
def update_me():
    changes = load_body(me_update_schema, partial=True)
    principal = current_principal()
    db = get_db()
    before = UserRepository(db).get(principal.user_id) if changes else None
    customer_before = CustomerRepository(db).get(before["customer_id"]) if (before or {}).get("customer_id") \
        else None
    user = update_profile(principal.user_id, changes)
    if user is None:
        raise Unauthorized("Token has been revoked")
    if before is not None:
        audit.record("update", "users", user["_id"], before=before, after=user)
    if customer_before is not None:
        # The customer record follows the profile (services/accounts.py); its entry shows what moved.
        customer_after = CustomerRepository(db).get(customer_before["_id"])
        if customer_after is not None and customer_after.get("version") != customer_before.get("version"):
            audit.record("update", "customers", customer_before["_id"], before=customer_before, after=customer_after)
    return record_response(user_schema.dump(user))


@bp.post("/password")
@require()
@operation("Change own password; other logins of this user are revoked", tags=["auth"],
           body=PasswordChangeSchema, status=204)
def change_password():
    data = load_body(password_schema)
    principal = current_principal()
    db = get_db()
    users = UserRepository(db)
    if not check_password(data["current_password"], users.password_hash(principal.user_id)):
        raise invalid({"current_password": ["Current password is incorrect."]})
    user = users.update(principal.user_id, {"password_hash": hash_password(data["new_password"])})
    if user is None:
        raise Unauthorized("Token has been revoked")
    SessionRepository(db).revoke_user(user["_id"], "password changed", keep_sid=principal.sid)
    audit.record("change_password", "users", user["_id"], redact=("password",))
    return no_content()
