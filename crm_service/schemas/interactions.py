"""Interactions embedded in customers, meetings, and the all-customers feed."""
from marshmallow import ValidationError, fields, validate, validates_schema

from .common import ListQuerySchema, ObjectIdString, StrictSchema, UtcDateTime, one_of, required_text, text

TYPES = ("email", "phone", "meeting", "chat", "in_person", "whatsapp", "sms", "note")
STATUSES = ("completed", "scheduled", "cancelled")
# Fields only staff may see; a customer user gets interactions without them.
STAFF_ONLY_FIELDS = ("employee_comment",)


class InteractionSchema(StrictSchema):
    id = ObjectIdString(dump_only=True)
    customer_id = ObjectIdString(dump_only=True)
    type = one_of(TYPES, required=True)
    subject = text(255, allow_none=True)
    notes = required_text(2000)
    employee_id = ObjectIdString(allow_none=True)
    employee_comment = text(2000, allow_none=True)
    occurred_at = UtcDateTime()
    duration_minutes = fields.Integer(validate=validate.Range(min=0, max=24 * 60), allow_none=True)
    status = one_of(STATUSES)
    location = text(255, allow_none=True)
    follow_up_required = fields.Boolean(load_default=False)
    follow_up_date = UtcDateTime(allow_none=True)
    ticket_id = ObjectIdString(dump_only=True)
    created_at = UtcDateTime(dump_only=True)
    updated_at = UtcDateTime(dump_only=True)

    @validates_schema
    def _follow_up(self, data, partial=False, **kwargs):
        if data.get("follow_up_date") and data.get("follow_up_required") is False and not partial:
            raise ValidationError("A follow-up date needs follow_up_required: true.", "follow_up_date")


class MeetingSchema(StrictSchema):
    scheduled_at = UtcDateTime(required=True)
    duration_minutes = fields.Integer(validate=validate.Range(min=1, max=24 * 60), load_default=30)
    subject = required_text(255)
    notes = text(2000, load_default="")
    location = text(255, allow_none=True)
    employee_id = ObjectIdString(allow_none=True)
    employee_comment = text(2000, allow_none=True)


class HistoryQuerySchema(ListQuerySchema):
    sort_fields = ("occurred_at",)
    default_sort = "-occurred_at"
    type = one_of(TYPES)
    status = one_of(STATUSES)
    from_ = UtcDateTime(data_key="from")
    to = UtcDateTime()


class FeedQuerySchema(HistoryQuerySchema):
    customer_id = ObjectIdString()
    employee_id = ObjectIdString()
    follow_up_required = fields.Boolean()


class UpcomingQuerySchema(ListQuerySchema):
    sort_fields = ("occurred_at",)
    default_sort = "occurred_at"
    from_ = UtcDateTime(data_key="from")
    to = UtcDateTime()
    employee_id = ObjectIdString()
    customer_id = ObjectIdString()


class FollowUpQuerySchema(ListQuerySchema):
    sort_fields = ("follow_up_date",)
    default_sort = "follow_up_date"
    due_before = UtcDateTime()
    employee_id = ObjectIdString()
    customer_id = ObjectIdString()
