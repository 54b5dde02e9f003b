"""Password reset by e-mail: the request, the confirmation and the (always identical) answer."""
from marshmallow import fields, validate

from .common import LowerEmail, StrictSchema
from .users import Password


class PasswordResetRequestSchema(StrictSchema):
    email = LowerEmail(required=True)


class PasswordResetConfirmSchema(StrictSchema):
    token = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=200),
                          metadata={"description": "The token from the reset e-mail"})
    new_password = Password(required=True)


class PasswordResetAcceptedSchema(StrictSchema):
    message = fields.String()
