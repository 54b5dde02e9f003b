"""Products: the catalogue that sales are made from."""
from marshmallow import fields, validate

from .common import CompleteRecordSchema, ListQuerySchema, required_text, text
from .money import Money, currency

SKU = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$",
                      error="1-64 letters, digits and . _ / -, starting with a letter or digit.")


class Sku(fields.String):
    """A stock-keeping unit; case-insensitive, so it is stored upper-case (`abc-1` is `ABC-1`)."""

    def __init__(self, **kwargs):
        super().__init__(validate=SKU, metadata={"example": "TOUR-ATLAS-3D"}, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).strip().upper()


class ProductSchema(CompleteRecordSchema):
    sku = Sku(required=True)
    name = required_text(200)
    description = text(5000, allow_none=True)
    price = Money(required=True)
    currency = currency(metadata={"description": "ISO 4217; defaults to BASE_CURRENCY."})
    is_active = fields.Boolean(load_default=True)
    version = fields.Integer(dump_only=True)


class ProductListQuerySchema(ListQuerySchema):
    sort_fields = ("name", "sku", "created_at", "updated_at")
    default_sort = "name"
    q = text(100, metadata={"description": "Every word starts a word of the name or the SKU (case-insensitive)."})
    is_active = fields.Boolean()
