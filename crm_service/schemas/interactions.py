"""Interactions embedded in customers, meetings, and the all-customers feed."""
from marshmallow import fields, post_dump, pre_load, validate

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
    email_id = ObjectIdString(dump_only=True, metadata={"description": "The e-mail this interaction records "
                                                                     "(type email, sent through /emails)"})
    created_at = UtcDateTime(dump_only=True)
    updated_at = UtcDateTime(dump_only=True)

    @pre_load
    def _date_implies_follow_up(self, data, **kwargs):
        """A follow-up date given without follow_up_required asks for a follow-up.

        Both together with follow_up_required false is a follow-up already done (the date is kept).
        """
        if isinstance(data, dict) and data.get("follow_up_date") is not None and "follow_up_required" not in data:
            data = {**data, "follow_up_required": True}
        return data

    @post_dump
    def _every_field(self, data, **kwargs):
        """Every record has the same keys: fields never set are null rather than missing."""
        keys = self.__dict__.get("_output_keys")
        if keys is None:
            keys = self.__dict__["_output_keys"] = tuple(field_obj.data_key or name
                                                         for name, field_obj in self.dump_fields.items())
        return {key: data.get(key) for key in keys}


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
