"""Reports: the window query (from/to, default the last 30 days), chart options and the summary's shape."""
from datetime import UTC, datetime, timedelta

from marshmallow import ValidationError, fields, post_load

from .common import StrictSchema, UtcDateTime
from .money import Money, currency

DEFAULT_DAYS = 30


def _now():
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class ReportQuerySchema(StrictSchema):
    from_ = UtcDateTime(data_key="from", metadata={
        "description": "Start of the window, included (a date means 00:00 UTC). Default: 30 days before `to`."})
    to = UtcDateTime(metadata={"description": "End of the window, excluded. Default: now."})

    @post_load
    def _window(self, data, **kwargs):
        """Both bounds filled in; `from` must come before `to`."""
        end = data.get("to") or _now()
        try:
            start = data.get("from_") or end - timedelta(days=DEFAULT_DAYS)
        except OverflowError as exc:  # `to` in the first 30 days of year 1
            raise ValidationError("Too early for a 30-day window; give `from` as well.", "to") from exc
        if start >= end:
            raise ValidationError("Must be before `to` (default: now).", "from")
        return {**data, "from_": start, "to": end}


class ChartQuerySchema(ReportQuerySchema):
    currency = currency(metadata={
        "description": "sales-by-month only: the currency drawn (default BASE_CURRENCY); other charts reject it."})


def _counts(description=None):
    return fields.Dict(keys=fields.String(), values=fields.Integer(),
                       metadata={"description": description} if description else {})


class CustomerFiguresSchema(StrictSchema):
    total = fields.Integer(metadata={"description": "Customers (not soft-deleted) created before `to`"})
    new = fields.Integer(metadata={"description": "Of those, created in the window"})
    by_status = _counts("`total` by current status; every status listed")


class InteractionFiguresSchema(StrictSchema):
    total = fields.Integer()
    by_type = _counts("Every type listed (0 when none)")


class TicketFiguresSchema(StrictSchema):
    opened = fields.Integer(metadata={"description": "Tickets created in the window"})
    resolved = fields.Integer(metadata={"description": "Tickets whose resolved_at is in the window"})
    open_now = fields.Integer(metadata={"description": "Tickets open or in progress now, whenever created"})
    median_hours_to_resolve = fields.Float(allow_none=True, metadata={
        "description": "Median of resolved_at - created_at over the tickets resolved in the window, in hours "
                       "(two decimals); null when none"})
    by_status = _counts("Tickets opened in the window, by current status (the tickets-by-status chart)")


class OpportunityFiguresSchema(StrictSchema):
    created = fields.Integer(metadata={"description": "Opportunities created in the window"})
    by_stage = _counts("Those, by current stage (the pipeline-by-stage chart)")
    won = fields.Integer(metadata={"description": "Opportunities closed as won in the window"})
    lost = fields.Integer(metadata={"description": "Opportunities closed as lost in the window"})


class MonthTotalsSchema(StrictSchema):
    month = fields.String(metadata={"example": "2024-06"})
    totals = fields.Dict(keys=fields.String(), values=Money(), metadata={"description": "{currency: amount}"})


class SalesFiguresSchema(StrictSchema):
    totals = fields.Dict(keys=fields.String(), values=Money(),
                         metadata={"description": "{currency: amount} over sales dated in the window"})
    by_month = fields.List(fields.Nested(MonthTotalsSchema), metadata={
        "description": "UTC months that have sales, oldest first"})


class FeedbackFiguresSchema(StrictSchema):
    count = fields.Integer()
    average_rating = fields.Float(allow_none=True, metadata={"description": "Two decimals; null with no feedback"})
    rating_distribution = _counts('{"1".."5": count}')


class EmailFiguresSchema(StrictSchema):
    sent = fields.Integer(metadata={"description": "Emails with status sent and sent_at in the window"})
    open_rate = fields.Float(allow_none=True, metadata={
        "description": "Share of those opened at least once (0..1); null when none sent"})


class ReportSummarySchema(StrictSchema):
    from_ = UtcDateTime(data_key="from")
    to = UtcDateTime()
    customers = fields.Nested(CustomerFiguresSchema)
    interactions = fields.Nested(InteractionFiguresSchema)
    conversion_rate = fields.Float(allow_none=True)
    opportunity_win_rate = fields.Float(allow_none=True)
    tickets = fields.Nested(TicketFiguresSchema)
    opportunities = fields.Nested(OpportunityFiguresSchema)
    sales = fields.Nested(SalesFiguresSchema)
    feedback = fields.Nested(FeedbackFiguresSchema)
    email = fields.Nested(EmailFiguresSchema)
    charts = fields.Dict(keys=fields.String(), values=fields.String(), metadata={
        "description": "{chart name: URL of its PNG for the same window} (swap .png for .svg)"})
