"""Companies."""
import re

from marshmallow import ValidationError, fields, validate

from .common import CompleteRecordSchema, ListQuerySchema, Phone, StrictSchema, Tags, one_of, required_text, text

COMPANY_SIZES = ("1-10", "11-50", "51-200", "201-1000", "1000+")


class AddressSchema(StrictSchema):
    line1 = text(200)
    line2 = text(200)
    city = text(100)
    region = text(100)
    postal_code = text(20)
    country = text(100)


DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


class Domain(fields.String):
    """A host name such as `example.com`, stored lower-case (`Example.COM` is the same domain)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("validate", validate.Length(max=253))
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        domain = super()._deserialize(value, attr, data, **kwargs).strip().lower()
        if not DOMAIN.match(domain):
            raise ValidationError("Not a valid domain name.")
        return domain


class CompanySchema(CompleteRecordSchema):
    name = required_text(200)
    domain = Domain(allow_none=True)
    industry = text(100, allow_none=True)
    size = one_of(COMPANY_SIZES, allow_none=True)
    phone = Phone(allow_none=True)
    website = fields.Url(validate=validate.Length(max=500), allow_none=True)
    address = fields.Nested(AddressSchema, allow_none=True)
    notes = text(5000, allow_none=True)
    tags = Tags(load_default=list)
    version = fields.Integer(dump_only=True)


class CompanyListQuerySchema(ListQuerySchema):
    sort_fields = ("created_at", "updated_at", "name")
    q = text(100)
    industry = text(100)
    tags = fields.List(fields.String(validate=validate.Length(max=50)), validate=validate.Length(max=20))


class CompanyDeleteQuerySchema(StrictSchema):
    detach = fields.Boolean(load_default=False)
