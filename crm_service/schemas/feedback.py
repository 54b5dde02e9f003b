"""Feedback: ratings and comments from customers, their sentiment, their resolution, and the stats."""
from marshmallow import fields, validate

from .common import (
    CompleteRecordSchema,
    ListQuerySchema,
    ObjectIdString,
    StrictSchema,
    UtcDateTime,
    one_of,
    text,
)

SERVICE_TYPES = ("tour", "booking", "support", "transport", "accommodation", "general")
SENTIMENTS = ("positive", "neutral", "negative")
RATINGS = (1, 2, 3, 4, 5)
SOURCE = validate.Regexp(r"^[a-z][a-z0-9_-]{0,29}$", error="A short lower-case name such as web, mobile, email.")


def rating(strict=True, **kwargs):
    """1..5; bodies must send a JSON integer (strict), query strings send text."""
    return fields.Integer(strict=strict, validate=validate.Range(min=1, max=5), **kwargs)


class FeedbackSchema(CompleteRecordSchema):
    customer_id = ObjectIdString(allow_none=True, metadata={
        "description": "Staff (admin) give it; a customer user's feedback is always its own. "
                       "null on anonymous feedback for everyone but admins and its author."})
    booking_id = text(100, allow_none=True, metadata={"description": "A free reference to a booking"})
    service_type = one_of(SERVICE_TYPES, load_default="general")
    rating = rating(required=True)
    comments = text(2000, allow_none=True)
    is_anonymous = fields.Boolean(load_default=False)
    source = fields.String(validate=SOURCE, load_default="web")
    sentiment = one_of(SENTIMENTS, dump_only=True)
    sentiment_score = fields.Float(dump_only=True, metadata={"description": "From -1 (negative) to 1 (positive)"})
    resolved = fields.Boolean(dump_only=True)
    resolution_notes = fields.String(dump_only=True, allow_none=True)
    resolved_by = ObjectIdString(dump_only=True, allow_none=True)
    resolved_at = UtcDateTime(dump_only=True, allow_none=True)
    submitted_at = UtcDateTime(dump_only=True)
    version = fields.Integer(dump_only=True)


class FeedbackResolveSchema(StrictSchema):
    """PUT/PATCH: resolve (the default), reopen with resolved=false, or change the notes."""

    resolved = fields.Boolean(load_default=True)
    resolution_notes = text(2000, allow_none=True)


class FeedbackListQuerySchema(ListQuerySchema):
    sort_fields = ("submitted_at", "rating")
    default_sort = "-submitted_at"

    customer_id = ObjectIdString()
    booking_id = text(100)
    service_type = one_of(SERVICE_TYPES)
    rating = rating(strict=False)
    resolved = fields.Boolean()
    sentiment = one_of(SENTIMENTS)
    from_ = UtcDateTime(data_key="from", metadata={"description": "submitted_at at or after"})
    to = UtcDateTime(metadata={"description": "submitted_at before"})


class FeedbackStatsQuerySchema(StrictSchema):
    days = fields.Integer(load_default=30, validate=validate.Range(min=1, max=365))


def _counts(keys):
    return fields.Dict(keys=fields.String(validate=validate.OneOf(keys)), values=fields.Integer())


class FeedbackStatsSchema(StrictSchema):
    total_feedback = fields.Integer()
    average_rating = fields.Float(allow_none=True, metadata={"description": "Two decimals; null with no feedback"})
    rating_distribution = _counts([str(value) for value in RATINGS])
    by_service_type = _counts(SERVICE_TYPES)
    sentiment_analysis = _counts(SENTIMENTS)
    resolution_rate = fields.Float(allow_none=True, metadata={"description": "0..1; null with no feedback"})
    pending_resolution = fields.Integer()
