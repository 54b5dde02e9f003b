"""Sales: a quantity of one product sold to one customer; the amount is computed."""
from marshmallow import fields, validate

from .common import CompleteRecordSchema, ListQuerySchema, ObjectIdString, UtcDateTime
from .money import Money, currency

MAX_QUANTITY = 1_000_000


class SaleSchema(CompleteRecordSchema):
    customer_id = ObjectIdString(required=True, metadata={
        "description": "An existing customer; null once that customer was erased."})
    product_id = ObjectIdString(required=True, metadata={"description": "An existing, active product."})
    quantity = fields.Integer(strict=True, load_default=1, validate=validate.Range(min=1, max=MAX_QUANTITY))
    unit_price = Money(metadata={"description": "Defaults to the product's price (and currency)."})
    amount = Money(dump_only=True, metadata={"description": "quantity × unit_price, exact."})
    currency = currency(metadata={"description": "Defaults to the product's currency; a different one needs "
                                                 "unit_price."})
    sale_date = UtcDateTime(metadata={"description": "Defaults to now."})
    employee_id = ObjectIdString(metadata={"description": "An active staff user; defaults to the caller."})
    version = fields.Integer(dump_only=True)


class SaleListQuerySchema(ListQuerySchema):
    sort_fields = ("sale_date", "created_at", "updated_at")
    default_sort = "-sale_date"
    customer_id = ObjectIdString()
    product_id = ObjectIdString()
    employee_id = ObjectIdString()
    from_ = UtcDateTime(data_key="from", metadata={"description": "sale_date on or after this time."})
    to = UtcDateTime(metadata={"description": "sale_date before this time (exclusive)."})
