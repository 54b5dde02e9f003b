"""Users, registration, login, tokens and password changes."""
from marshmallow import ValidationError, fields, validate, validates

from crm_service.auth.passwords import MAX_BYTES, MIN_BYTES

from .common import (
    ListQuerySchema,
    LowerEmail,
    Phone,
    RecordSchema,
    StrictSchema,
    one_of,
    required_text,
    text,
)

MAX_SECRET_INPUT = 10_000
USERNAME = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9._-]{2,39}$",
                           error="3-40 letters, digits, dots, dashes or underscores, starting with a letter or digit.")


class Password(fields.String):
    """8-72 bytes of UTF-8: bcrypt looks at no more than 72."""

    def __init__(self, **kwargs):
        kwargs.setdefault("load_only", True)
        kwargs.setdefault("metadata", {"format": "password", "description": "8-72 bytes (UTF-8)"})
        # The byte count is checked in _deserialize; 72 characters is the documented outer bound.
        kwargs.setdefault("validate", validate.Length(max=MAX_BYTES))
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        password = super()._deserialize(value, attr, data, **kwargs)
        size = len(password.encode())
        if size < MIN_BYTES or size > MAX_BYTES:
            raise ValidationError(f"Password must be {MIN_BYTES} to {MAX_BYTES} bytes long.")
        return password


class UserSchema(RecordSchema):
    username = fields.String(required=True, validate=USERNAME)
    email = LowerEmail(required=True)
    first_name = text(100, allow_none=True)
    last_name = text(100, allow_none=True)
    phone = Phone(allow_none=True)
    role = one_of(("admin", "sales", "customer"), dump_only=True)
    is_active = fields.Boolean(dump_only=True)
    customer_id = fields.String(dump_only=True, allow_none=True)
    version = fields.Integer(dump_only=True)


class UserCreateSchema(StrictSchema):
    username = fields.String(required=True, validate=USERNAME)
    email = LowerEmail(required=True)
    password = Password(required=True)
    first_name = text(100)
    last_name = text(100, allow_none=True)
    phone = Phone(allow_none=True)
    role = one_of(("admin", "sales"), required=True)
    is_active = fields.Boolean(load_default=True)


class UserUpdateSchema(StrictSchema):
    email = LowerEmail()
    first_name = text(100)
    last_name = text(100, allow_none=True)
    phone = Phone(allow_none=True)
    role = one_of(("admin", "sales"))
    is_active = fields.Boolean()
    password = Password()


class UserListQuerySchema(ListQuerySchema):
    sort_fields = ("created_at", "updated_at", "username")
    role = one_of(("admin", "sales"))
    is_active = fields.Boolean()


class MeUpdateSchema(StrictSchema):
    first_name = required_text(100)
    last_name = text(100, allow_none=True)
    phone = Phone(allow_none=True)


class RegisterSchema(StrictSchema):
    username = fields.String(required=True, validate=USERNAME)
    email = LowerEmail(required=True)
    password = Password(required=True)
    first_name = required_text(100)
    last_name = text(100)
    phone = Phone(allow_none=True)
    company = text(200, allow_none=True)
    role = fields.String(validate=validate.Length(max=50),
                         metadata={"description": "Omit, or 'customer'; any other role is 403"})

    @validates("role")
    def _role(self, value, **kwargs):
        if not isinstance(value, str):
            raise ValidationError("Not a valid role.")


class LoginSchema(StrictSchema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=254),
                             metadata={"description": "Username or email"})
    # Over 72 bytes is simply wrong (401), and only 72 bytes reach bcrypt; the bound only stops junk input.
    password = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=MAX_SECRET_INPUT))


class TokenSchema(StrictSchema):
    access_token = fields.String()
    refresh_token = fields.String()
    token_type = fields.String(metadata={"example": "Bearer"})
    expires_in = fields.Integer(metadata={"description": "Seconds the access token lives"})
    user = fields.Nested(UserSchema)


class PasswordChangeSchema(StrictSchema):
    current_password = fields.String(required=True, load_only=True,
                                     validate=validate.Length(min=1, max=MAX_SECRET_INPUT))
    new_password = Password(required=True)


