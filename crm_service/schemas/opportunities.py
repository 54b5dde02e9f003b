"""Opportunities: deals in the sales pipeline, their stages and close dates."""
import re
from datetime import date

from marshmallow import ValidationError, fields, validate

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
from .money import Money, currency

STAGES = ("prospecting", "qualification", "proposal", "negotiation", "won", "lost")
CLOSED_STAGES = ("won", "lost")
OPEN_STAGES = tuple(stage for stage in STAGES if stage not in CLOSED_STAGES)
# SPEC §8: the probability a stage implies when the client gives none.
STAGE_PROBABILITY = {"prospecting": 10, "qualification": 25, "proposal": 50, "negotiation": 75, "won": 100, "lost": 0}
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class CalendarDate(fields.Field):
    """A day as `YYYY-MM-DD`, stored as that string (so it sorts and compares as a date)."""

    default_error_messages = {"invalid": "Not a valid date: use YYYY-MM-DD."}

    def __init__(self, **kwargs):
        metadata = {"type": "string", "format": "date", "example": "2025-06-30", **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return value

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not DAY.match(value):
            raise self.make_error("invalid")
        try:
            parsed = date.fromisoformat(value)
        except ValueError as exc:
            raise self.make_error("invalid") from exc
        if parsed.year < 1900:
            raise ValidationError("Not a plausible close date.")
        return parsed.isoformat()


class StageChangeSchema(StrictSchema):
    stage = one_of(STAGES)
    at = UtcDateTime()
    by = ObjectIdString(allow_none=True)


class OpportunitySchema(CompleteRecordSchema):
    customer_id = ObjectIdString(required=True, metadata={
        "description": "An existing customer; null once that customer was erased."})
    title = required_text(200)
    amount = Money(required=True)
    currency = currency(metadata={"description": "ISO 4217; defaults to BASE_CURRENCY."})
    stage = one_of(STAGES, load_default="prospecting")
    probability = fields.Integer(strict=True, validate=validate.Range(min=0, max=100), metadata={
        "description": "0-100; defaults by stage (prospecting 10, qualification 25, proposal 50, negotiation 75, "
                       "won 100, lost 0) on create and whenever the stage changes without one."})
    owner_id = ObjectIdString(metadata={"description": "An active staff user; defaults to the caller."})
    expected_close_date = CalendarDate(allow_none=True)
    closed_at = UtcDateTime(dump_only=True, allow_none=True, metadata={
        "description": "Set when the stage becomes won or lost; cleared when reopened."})
    lost_reason = text(1000, allow_none=True, metadata={"description": "Only for a lost opportunity."})
    stage_history = fields.List(fields.Nested(StageChangeSchema), dump_only=True)
    version = fields.Integer(dump_only=True)


class OpportunityListQuerySchema(ListQuerySchema):
    sort_fields = ("created_at", "updated_at", "expected_close_date")
    stage = one_of(STAGES)
    owner_id = ObjectIdString()
    customer_id = ObjectIdString()
    closing_before = UtcDateTime(metadata={"description": "expected_close_date before this day (exclusive)."})
    closing_after = UtcDateTime(metadata={"description": "expected_close_date on or after this day."})
