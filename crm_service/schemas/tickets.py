"""Support tickets, their comments and the status flow."""
from marshmallow import fields

from .common import (
    CompleteRecordSchema,
    ListQuerySchema,
    ObjectIdString,
    StrictSchema,
    UtcDateTime,
    one_of,
    required_text,
    text,
)

PRIORITIES = ("low", "normal", "high", "urgent")
STATUSES = ("open", "in_progress", "resolved", "closed")
OPEN_STATUSES = ("open", "in_progress")
# SPEC §8 "Further decisions": every status change a ticket may make; anything else is 422.
TRANSITIONS = frozenset({
    ("open", "in_progress"), ("open", "resolved"),
    ("in_progress", "resolved"), ("in_progress", "open"),
    ("resolved", "closed"), ("resolved", "open"),
    ("closed", "open"),
})
COMMENT_MAX_LENGTH = 4000


def sources_of(target):
    """The statuses a ticket may move to `target` from."""
    return sorted(source for source, to in TRANSITIONS if to == target)


class CommentSchema(StrictSchema):
    id = ObjectIdString(dump_only=True)
    author_id = ObjectIdString(dump_only=True)
    body = required_text(COMMENT_MAX_LENGTH)
    internal = fields.Boolean(load_default=False, metadata={
        "description": "Staff-only note: never shown to customer users, who may not write one (403)."})
    created_at = UtcDateTime(dump_only=True)


class TicketSchema(CompleteRecordSchema):
    number = fields.String(dump_only=True, metadata={"example": "T-000042"})
    customer_id = ObjectIdString(metadata={
        "description": "Required for staff; a customer user's ticket is always its own (a value it sends is ignored)."})
    subject = required_text(200)
    description = text(5000, allow_none=True)
    priority = one_of(PRIORITIES, load_default="normal")
    status = one_of(STATUSES, dump_only=True)
    assignee_id = ObjectIdString(allow_none=True, metadata={"description": "An active staff user (staff only)."})
    created_by = ObjectIdString(dump_only=True)
    resolved_at = UtcDateTime(dump_only=True, allow_none=True)
    resolved_by = ObjectIdString(dump_only=True, allow_none=True)
    comments = fields.List(fields.Nested(CommentSchema), dump_only=True)
    version = fields.Integer(dump_only=True)


class TicketUpdateSchema(StrictSchema):
    """What staff may change with PATCH; `status` follows the transition table."""

    subject = required_text(200)
    description = text(5000, allow_none=True)
    priority = one_of(PRIORITIES)
    status = one_of(STATUSES)
    assignee_id = ObjectIdString(allow_none=True)


class AssignSchema(StrictSchema):
    assignee_id = ObjectIdString(required=True, allow_none=True, metadata={
        "description": "An active staff user, or null to unassign."})


class TicketActionSchema(StrictSchema):
    """resolve / reopen take no fields (an empty body or `{}`)."""


class TicketListQuerySchema(ListQuerySchema):
    sort_fields = ("created_at", "updated_at", "number", "priority")
    default_sort = "-created_at"
    status = one_of(STATUSES)
    priority = one_of(PRIORITIES)
    assignee_id = ObjectIdString()
    customer_id = ObjectIdString()
    q = text(100)
