"""Customer summary, CSV export query, CSV import upload and its report."""
from marshmallow import Schema, fields

from .common import StrictSchema, UtcDateTime
from .customers import CustomerListQuerySchema

# The export is one whole file: no page, size, count or cursor (sort and every filter stay).
PAGING_PARAMETERS = ("page", "size", "count", "cursor")


class CustomerSummarySchema(Schema):
    """Figures about one customer; a figure about a resource the caller may not read is left out."""

    class Meta:
        ordered = True

    total_interactions = fields.Integer(metadata={"description": "Embedded and archived interactions"})
    interaction_channels = fields.Dict(keys=fields.String(), values=fields.Integer(),
                                       metadata={"example": {"email": 3, "phone": 1}})
    last_interaction_at = UtcDateTime(allow_none=True)
    open_tickets = fields.Integer(metadata={"description": "Tickets whose status is open or in_progress"})
    total_feedback = fields.Integer()
    average_rating = fields.Float(allow_none=True, metadata={"description": "null when there is no feedback"})
    last_feedback_date = UtcDateTime(allow_none=True)
    total_sales_amount = fields.Dict(
        keys=fields.String(), values=fields.String(),
        metadata={"description": "Sum of the customer's sales per currency, as decimal strings",
                  "example": {"EUR": "120.00"}},
    )
    open_opportunities = fields.Integer(metadata={"description": "Opportunities not won or lost"})
    segments = fields.List(fields.String(), metadata={"description": "Names of the segments the customer matches"})


class CustomerExportQuerySchema(CustomerListQuerySchema):
    """The customer list's filters and sort, without paging."""

    class Meta(CustomerListQuerySchema.Meta):
        exclude = PAGING_PARAMETERS


class CustomerImportQuerySchema(StrictSchema):
    dry_run = fields.Boolean(load_default=False, metadata={
        "description": "Validate and count what would be created and updated, writing nothing"})


class CustomerImportFileSchema(StrictSchema):
    """The multipart/form-data body of an import (documentation only: the view reads request.files)."""

    file = fields.String(required=True, metadata={
        "format": "binary", "description": "A UTF-8 CSV file whose first line names the columns"})


class ImportRowErrorSchema(Schema):
    class Meta:
        ordered = True

    row = fields.Integer(metadata={"description": "1 for the first line after the header"})
    errors = fields.Dict(keys=fields.String(), metadata={
        "description": "Field errors keyed by column, as for a customer body"})


class CustomerImportResultSchema(Schema):
    class Meta:
        ordered = True

    dry_run = fields.Boolean()
    created = fields.Integer()
    updated = fields.Integer()
    failed = fields.Integer()
    errors = fields.List(fields.Nested(ImportRowErrorSchema))
