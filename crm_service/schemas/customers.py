"""Customers (people); their interactions live in interactions.py."""
from marshmallow import fields, pre_dump, validate

from .common import (
    CompleteRecordSchema,
    ListQuerySchema,
    LowerEmail,
    ObjectIdString,
    Phone,
    StrictSchema,
    Tags,
    UtcDateTime,
    one_of,
    required_text,
    text,
)

CONTACT_TYPES = ("individual", "corporate")
STATUSES = ("lead", "prospect", "active", "inactive", "churned")
LOYALTY = ("new", "bronze", "silver", "gold", "platinum", "vip")
LANGUAGE = validate.Regexp(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$", error="Not a BCP 47 language tag.")
# The fields a customer user may change on its own record (SPEC §8).
SELF_SERVICE_FIELDS = ("first_name", "last_name", "phone", "preferred_language")


class CustomerSchema(CompleteRecordSchema):
    first_name = required_text(100)
    last_name = text(100, allow_none=True)
    full_name = fields.String(dump_only=True)
    email = LowerEmail(required=True)
    phone = Phone(allow_none=True)
    company_id = ObjectIdString(allow_none=True)
    company_name = fields.String(dump_only=True, allow_none=True)
    contact_type = one_of(CONTACT_TYPES, load_default="individual")
    status = one_of(STATUSES, load_default="lead")
    loyalty_status = one_of(LOYALTY, load_default="new")
    tags = Tags(load_default=list)
    nationality = text(100, allow_none=True)
    region = text(100, allow_none=True)
    preferred_language = fields.String(validate=LANGUAGE)
    notes = text(5000, allow_none=True)
    owner_id = ObjectIdString(allow_none=True)
    is_active = fields.Boolean(load_default=True)
    last_interaction_at = UtcDateTime(dump_only=True, allow_none=True)
    version = fields.Integer(dump_only=True)

    @pre_dump
    def _full_name(self, customer, **kwargs):
        names = [customer.get("first_name"), customer.get("last_name")]
        return {**customer, "full_name": " ".join(name for name in names if name)}


class CustomerSelfUpdateSchema(StrictSchema):
    """What a customer user may change on its own record."""

    first_name = required_text(100)
    last_name = text(100, allow_none=True)
    phone = Phone(allow_none=True)
    preferred_language = fields.String(validate=LANGUAGE)


class CustomerListQuerySchema(ListQuerySchema):
    sort_fields = ("created_at", "updated_at", "last_name", "last_interaction_at")
    q = text(100)
    name = text(100)
    email = text(254)
    phone = text(32)
    company = text(100)
    company_id = ObjectIdString()
    status = one_of(STATUSES)
    contact_type = one_of(CONTACT_TYPES)
    loyalty_status = one_of(LOYALTY)
    region = text(100)
    tags = fields.List(fields.String(validate=validate.Length(max=50)), validate=validate.Length(max=20))
    owner_id = ObjectIdString()
    is_active = fields.Boolean(load_default=True)
    created_after = UtcDateTime()
    created_before = UtcDateTime()


class CustomerSearchQuerySchema(CustomerListQuerySchema):
    """`/customers/search?query=&company=`, kept for clients of the older API."""

    query = text(100)


class CustomerDeleteQuerySchema(StrictSchema):
    erase = fields.Boolean(load_default=False)
