"""Segments: named, validated rule sets over customers (never raw MongoDB)."""
from flask import current_app, has_app_context
from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from .common import (
    TAG_PATTERN,
    CompleteRecordSchema,
    ListQuerySchema,
    ObjectIdString,
    StrictSchema,
    UtcDateTime,
    required_text,
    text,
)
from .customers import CONTACT_TYPES, LOYALTY, STATUSES
from .money import Money, currency

MAX_VALUES = 50
# An explicit member list (e.g. a saved k-means cluster) is stored in the segment: bounded, like its size.
MAX_CUSTOMER_IDS = 5000


def any_of(item, description):
    """A non-empty list of values; a customer matches when it has any of them."""
    return fields.List(item, validate=validate.Length(min=1, max=MAX_VALUES), metadata={"description": description})


def _tag():
    return fields.String(validate=validate.Regexp(TAG_PATTERN, error="Tags are 1-50 letters, digits, spaces, .&+/-"))


RANGES = (
    ("last_interaction_after", "last_interaction_before"),
    ("created_after", "created_before"),
)


class SegmentCriteriaSchema(StrictSchema):
    """Every rule must hold (AND); a list rule holds when the customer has any of its values (OR).

    Only active customers are ever members. `min_total_sales` sums the customer's sales in `currency`
    (default BASE_CURRENCY, stored with the segment).
    """

    status = any_of(fields.String(validate=validate.OneOf(STATUSES)), "Any of these statuses")
    loyalty_status = any_of(fields.String(validate=validate.OneOf(LOYALTY)), "Any of these loyalty levels")
    region = any_of(fields.String(validate=validate.Length(min=1, max=100)), "Any of these regions (exact)")
    contact_type = any_of(fields.String(validate=validate.OneOf(CONTACT_TYPES)), "Any of these contact types")
    tags = any_of(_tag(), "At least one of these tags")
    tags_all = any_of(_tag(), "Every one of these tags")
    min_total_sales = Money(metadata={"description": "Sales in `currency` summing to at least this amount"})
    currency = currency(metadata={"description": "Currency of min_total_sales (default BASE_CURRENCY)"})
    last_interaction_after = UtcDateTime(metadata={"description": "Last interaction at or after this time"})
    last_interaction_before = UtcDateTime(metadata={"description": "Last interaction before this time (customers "
                                                                   "never contacted do not match)"})
    created_after = UtcDateTime(metadata={"description": "Created at or after this time"})
    created_before = UtcDateTime(metadata={"description": "Created before this time"})
    company_id = ObjectIdString(metadata={"description": "Works for this company"})
    customer_ids = fields.List(
        ObjectIdString(), validate=validate.Length(min=1, max=MAX_CUSTOMER_IDS),
        metadata={"description": f"Only these customers (an explicit member list, at most {MAX_CUSTOMER_IDS} ids; "
                                 "POST /analytics/segmentation/apply saves k-means clusters this way). Like every "
                                 "rule it combines with the others, and only active customers are members; an id "
                                 "that matches no customer selects nobody."},
    )

    @validates_schema
    def _check(self, data, **kwargs):
        errors = {}
        if "currency" in data and "min_total_sales" not in data:
            errors["currency"] = ["Only with min_total_sales."]
        for after, before in RANGES:
            if after in data and before in data and data[after] >= data[before]:
                errors[before] = [f"Must be later than {after}."]
        if errors:
            raise ValidationError(errors)

    @post_load
    def _default_currency(self, data, **kwargs):
        if "min_total_sales" in data and "currency" not in data:
            data["currency"] = current_app.config["BASE_CURRENCY"] if has_app_context() else "MAD"
        return data


class SegmentSchema(CompleteRecordSchema):
    name = required_text(200)
    description = text(1000, allow_none=True)
    criteria = fields.Nested(SegmentCriteriaSchema, load_default=dict,
                             metadata={"description": "Rules every member meets; {} is every active customer"})
    customer_count = fields.Integer(dump_only=True)
    last_calculated = UtcDateTime(dump_only=True)
    version = fields.Integer(dump_only=True)


class SegmentUpdateSchema(StrictSchema):
    """PATCH: criteria, when given, replace the old rules as a whole."""

    name = required_text(200)
    description = text(1000, allow_none=True)
    criteria = fields.Nested(SegmentCriteriaSchema)


class SegmentPreviewSchema(StrictSchema):
    criteria = fields.Nested(SegmentCriteriaSchema, required=True)


class SegmentPreviewResultSchema(StrictSchema):
    customer_count = fields.Integer()


class SegmentListQuerySchema(ListQuerySchema):
    sort_fields = ("created_at", "name", "customer_count")
    q = text(100, metadata={"description": "Start of the name (case- and accent-insensitive)"})


class SegmentMembersQuerySchema(ListQuerySchema):
    """The members list: paging and the customers' sort orders, no other filter (the criteria are the filter)."""

    sort_fields = ("created_at", "updated_at", "last_name", "last_interaction_at")
