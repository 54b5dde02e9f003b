"""Password reset by e-mail (SPEC §4)."""
from flask import Blueprint, current_app, g

from crm_service.schemas.password_reset import (
    PasswordResetAcceptedSchema,
    PasswordResetConfirmSchema,
    PasswordResetRequestSchema,
)
from crm_service.services.password_reset import confirm_reset, request_reset

from .docs import operation
from .helpers import load_body, no_content, record_response

bp = Blueprint("password_reset", __name__, url_prefix="/api/v1/auth/password-reset")

request_schema = PasswordResetRequestSchema()
confirm_schema = PasswordResetConfirmSchema()
ACCEPTED = {"message": "If an active account uses this address, a reset link is on its way."}


@bp.post("")
@operation("Ask for a password-reset link by e-mail", tags=["auth"], body=PasswordResetRequestSchema,
           response=PasswordResetAcceptedSchema, status=202, public=True,
           description="Always 202 with the same body, at once, whether or not the address belongs to an "
                       "account: the lookup and the e-mail happen after the answer. An active user gets a link "
                       "that works once and expires after PASSWORD_RESET_EXPIRES_SECONDS (30 minutes).")
def request_password_reset():
    data = load_body(request_schema)
    request_reset(current_app._get_current_object(), data["email"], g.get("request_id"))
    return record_response(ACCEPTED, 202)


@bp.post("/confirm")
@operation("Set a new password with the token from the reset e-mail", tags=["auth"],
           body=PasswordResetConfirmSchema, status=204, public=True, errors=(400,),
           description="204 on success: the token is spent, the password changed and every login (access and "
                       "refresh tokens) of the user revoked. A used, unknown or expired token is 400 `bad_request`; "
                       "a new_password outside 8-72 UTF-8 bytes is 422.")
def confirm_password_reset():
    data = load_body(confirm_schema)
    confirm_reset(data["token"], data["new_password"])
    return no_content()
