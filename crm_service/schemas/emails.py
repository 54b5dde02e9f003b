"""E-mails sent to customers: the send request, the record, replies, engagement and the list."""
from datetime import timedelta

from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from crm_service.repositories.base import utcnow

from .common import (
    CompleteRecordSchema,
    ListQuerySchema,
    LowerEmail,
    ObjectIdString,
    StrictSchema,
    UtcDateTime,
    one_of,
)

STATUSES = ("queued", "sent", "failed")
MAX_BODY_LENGTH = 200_000
MAX_RESPONSE_LENGTH = 10_000
# A header value may hold tabs but no other control character (no CR/LF: no header injection).
HEADER_TEXT = validate.Regexp(r"^[^\x00-\x08\x0a-\x1f\x7f]*$",
                              error="Must not contain line breaks or control characters.")
CLOCK_SKEW = timedelta(minutes=5)


class EmailResponseSchema(StrictSchema):
    """A reply from the recipient, recorded by staff."""

    body = fields.String(required=True, validate=validate.Length(min=1, max=MAX_RESPONSE_LENGTH))
    received_at = UtcDateTime(metadata={"description": "When the reply arrived; default now. Not in the future."})

    @validates("received_at")
    def _not_future(self, value, **kwargs):
        if value > utcnow() + CLOCK_SKEW:
            raise ValidationError("Must not be in the future.")


class EmailSchema(CompleteRecordSchema):
    customer_id = ObjectIdString(allow_none=True, metadata={
        "description": "The customer written to; `to` defaults to its email. Give customer_id or to (or both)."})
    to = LowerEmail(allow_none=True, metadata={"description": "Recipient address; required without customer_id"})
    subject = fields.String(required=True, validate=[validate.Length(min=1, max=255), HEADER_TEXT])
    body = fields.String(required=True, validate=validate.Length(min=1, max=MAX_BODY_LENGTH), metadata={
        "description": "Plain text or HTML. The mail always has a text part and an HTML part (with the pixel)."})
    html = fields.Boolean(allow_none=True, metadata={
        "description": "true: body is HTML; false: plain text. Omitted or null: HTML when the body holds a tag "
                       "such as <p> or </div>."})
    status = one_of(STATUSES, dump_only=True)
    failure_reason = fields.String(dump_only=True, allow_none=True)
    sent_at = UtcDateTime(dump_only=True, allow_none=True)
    tracking_url = fields.String(dump_only=True, metadata={"description": "The tracking pixel embedded in the mail"})
    open_count = fields.Integer(dump_only=True)
    first_opened_at = UtcDateTime(dump_only=True, allow_none=True)
    last_opened_at = UtcDateTime(dump_only=True, allow_none=True)
    responses = fields.List(fields.Nested(EmailResponseSchema), dump_only=True)
    sender_id = ObjectIdString(dump_only=True, allow_none=True)
    interaction_id = ObjectIdString(dump_only=True, allow_none=True, metadata={
        "description": "The `email` interaction logged on the customer"})
    version = fields.Integer(dump_only=True)

    @validates_schema
    def _recipient(self, data, **kwargs):
        if not data.get("customer_id") and not data.get("to"):
            raise ValidationError("Give to, customer_id, or both.", "to")


class EngagementSchema(StrictSchema):
    opened = fields.Boolean()
    open_count = fields.Integer()
    first_opened_at = UtcDateTime(allow_none=True)
    last_opened_at = UtcDateTime(allow_none=True)
    responses = fields.List(fields.Nested(EmailResponseSchema))


class EmailListQuerySchema(ListQuerySchema):
    sort_fields = ("created_at", "sent_at", "updated_at")
    default_sort = "-created_at"

    customer_id = ObjectIdString()
    status = one_of(STATUSES)
    from_ = UtcDateTime(data_key="from", metadata={"description": "created_at at or after"})
    to = UtcDateTime(metadata={"description": "created_at before"})
    sent_after = UtcDateTime(metadata={"description": "sent_at at or after"})
    sent_before = UtcDateTime(metadata={"description": "sent_at before"})


class EmailPageSchema(Schema):
    """The list envelope, plus the open rate over every email the filter matches (not just this page)."""

    items = fields.List(fields.Nested(EmailSchema), required=True)
    page = fields.Integer(allow_none=True)
    size = fields.Integer()
    total = fields.Integer(allow_none=True)
    pages = fields.Integer(allow_none=True)
    next_cursor = fields.String(allow_none=True)
    open_rate = fields.Float(allow_none=True, metadata={
        "description": "Opened / sent (0..1) over the sent emails the filter matches; null when none was sent "
                       "or with count=false"})
