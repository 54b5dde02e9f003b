"""Staff accounts (admin and sales), managed by admins."""
from flask import Blueprint, url_for
from pymongo.errors import DuplicateKeyError

from crm_service.auth.decorators import current_principal, require
from crm_service.auth.passwords import hash_password
from crm_service.db import get_db
from crm_service.errors import NotFound, invalid
from crm_service.repositories.base import to_object_id
from crm_service.repositories.sessions import SessionRepository
from crm_service.repositories.tombstones import TombstoneRepository
from crm_service.repositories.users import UserRepository
from crm_service.schemas.users import UserCreateSchema, UserListQuerySchema, UserSchema, UserUpdateSchema
from crm_service.services import audit
from crm_service.services.accounts import user_conflict

from .docs import operation
from .etags import check_if_match, record_with_etag
from .helpers import load_body, load_query, no_content, page_request, page_response, sort_of

bp = Blueprint("users", __name__, url_prefix="/api/v1/users")

user_schema = UserSchema()
create_schema = UserCreateSchema()
update_schema = UserUpdateSchema()
list_query_schema = UserListQuerySchema()
SORT_FIELDS = {"username": "username_key"}


def _staff_or_404(users, user_id):
    user = users.get_staff(user_id)
    if user is None:
        raise NotFound("User not found")
    return user


def _is_caller(user):
    return user["_id"] == to_object_id(current_principal().user_id)


@bp.get("")
@require("crm:read:users")
@operation("List staff users", tags=["users"], query=UserListQuerySchema, response=UserSchema, paged=True)
def list_users():
    query = load_query(list_query_schema)
    page = UserRepository(get_db()).list_staff(query, sort_of(query, list_query_schema, SORT_FIELDS),
                                               page_request(query))
    return page_response(page, user_schema)


@bp.post("")
@require("crm:create:users")
@operation("Create a staff user", tags=["users"], body=UserCreateSchema, response=UserSchema, status=201,
           errors=(409,))
def create_user():
    data = load_body(create_schema)
    data["password_hash"] = hash_password(data.pop("password"))
    users = UserRepository(get_db())
    try:
        user = users.create(data)
    except DuplicateKeyError as exc:
        raise user_conflict(users, data["username"], data["email"]) from exc
    # The stored user comes back without its hash; the password is named, never shown.
    audit.record("create", "users", user["_id"], after=user, redact=("password",))
    return record_with_etag(user_schema.dump(user), user, 201, url_for("users.get_user", user_id=str(user["_id"])))


@bp.get("/<user_id>")
@require("crm:read:users")
@operation("Read a staff user", tags=["users"], response=UserSchema)
def get_user(user_id):
    user = _staff_or_404(UserRepository(get_db()), user_id)
    return record_with_etag(user_schema.dump(user), user)


@bp.route("/<user_id>", methods=["PATCH"])
@require("crm:update:users")
@operation("Change a staff user; deactivating it, or changing its role or password, revokes its tokens",
           tags=["users"], body=UserUpdateSchema, body_partial=True, response=UserSchema, errors=(409, 412))
def update_user(user_id):
    changes = load_body(update_schema, partial=True)
    db = get_db()
    users = UserRepository(db)
    current = _staff_or_404(users, user_id)
    check_if_match(current)
    if _is_caller(current):
        if changes.get("is_active") is False:
            raise invalid({"is_active": ["Admins cannot deactivate themselves."]})
        if changes.get("role", "admin") != "admin":
            raise invalid({"role": ["Admins cannot demote themselves."]})
    if "password" in changes:
        changes["password_hash"] = hash_password(changes.pop("password"))
    if not changes:
        return record_with_etag(user_schema.dump(current), current)
    try:
        user = users.update(user_id, changes, expected_version=current["version"])
    except DuplicateKeyError as exc:
        raise user_conflict(users, email=changes.get("email"), exclude_id=current["_id"]) from exc
    if user is None:
        check_if_match(current, force=True)  # changed or deleted since we read it
    # Tokens carry the role, so a new role (like a new password or a deactivation) ends every login.
    if changes.get("is_active") is False or "password_hash" in changes or user["role"] != current["role"]:
        SessionRepository(db).revoke_user(current["_id"], "account changed by admin")
    audit.record("update", "users", current["_id"], before=current, after=user,
                 redact=("password",) if "password_hash" in changes else ())
    return record_with_etag(user_schema.dump(user), user)


@bp.delete("/<user_id>")
@require("crm:delete:users")
@operation("Delete a staff user and revoke its tokens", tags=["users"], status=204, errors=(412, 422))
def delete_user(user_id):
    db = get_db()
    users = UserRepository(db)
    current = _staff_or_404(users, user_id)
    check_if_match(current)
    if _is_caller(current):
        raise invalid({"id": ["Admins cannot delete themselves."]})
    users.delete(user_id)
    SessionRepository(db).revoke_user(current["_id"], "account deleted")
    TombstoneRepository(db).record("users", current["_id"])
    audit.record("delete", "users", current["_id"], before=current)
    return no_content()
