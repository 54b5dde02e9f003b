"""Shared schema pieces: strict base schemas, ids, times, phones, emails and list queries."""
import functools
import re
from datetime import UTC, date, datetime, time

import phonenumbers
from flask import current_app, has_app_context
from marshmallow import RAISE, Schema, ValidationError, fields, missing, post_dump, validate, validates_schema

MAX_PAGE_SIZE = 100
MAX_PHONE_LENGTH = 32
TAG_PATTERN = re.compile(r"^[\w][\w .&+/-]{0,49}$")


def _plain_field(name, field):
    """Whether marshmallow would read this field as `document.get(key)` and hand it to `_serialize`."""
    key = field.attribute or name
    return (field._CHECK_ATTRIBUTE and field.dump_default is missing and "." not in key
            and not hasattr(dict, key)  # a key missing from a dict would find the dict's own method
            and type(field).serialize is fields.Field.serialize and type(field).get_value is fields.Field.get_value)


class DictDumpSchema(Schema):
    """Marshmallow's dump, minus its per-field lookups when the object is a plain dict (a document).

    For each field marshmallow calls Field.serialize, which calls get_value, the schema's accessor and
    utils.get_value before the field's own `_serialize`: five calls for each value of each record, a
    third of a history page's CPU. A field whose value is found so (no dotted attribute, no dump
    default, no own serialize/get_value) is read here with `dict.get` and given to the same
    `_serialize` with the same arguments; any other field, and any object that is not a dict, takes
    marshmallow's own path. Hooks (pre_dump, post_dump) run as before. tests/unit/test_hot_paths.py
    checks every schema of the service against marshmallow's output.
    """

    def _dump_plan(self):
        plan = self.__dict__.get("_plan")
        if plan is None:
            if type(self).get_attribute is not Schema.get_attribute:
                plan = ()
            else:
                plan = tuple((field.data_key if field.data_key is not None else name, field.attribute or name, name,
                              field, _plain_field(name, field)) for name, field in self.dump_fields.items())
            self.__dict__["_plan"] = plan
        return plan

    def _serialize(self, obj, *, many=False):
        if many and obj is not None:
            return [self._serialize(item, many=False) for item in obj]
        plan = self._dump_plan()
        if type(obj) is not dict or not plan:
            return super()._serialize(obj, many=False)
        result = self.dict_class()
        for key, attribute, name, field, plain in plan:
            if plain:
                value = obj.get(attribute, missing)
                if value is missing:
                    continue
                result[key] = field._serialize(value, name, obj)
            else:
                value = field.serialize(name, obj, accessor=self.get_attribute)
                if value is not missing:
                    result[key] = value
        return result


class StrictSchema(DictDumpSchema):
    """Unknown fields are an error, never silently dropped or stored."""

    class Meta:
        unknown = RAISE
        ordered = True


def iso_z(value):
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class UtcDateTime(fields.DateTime):
    """ISO 8601 in UTC with a Z; a plain date means 00:00 UTC that day."""

    def _serialize(self, value, attr, obj, **kwargs):
        return iso_z(value)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            try:
                return datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
            except ValueError as exc:
                raise ValidationError("Not a valid date.") from exc
        parsed = super()._deserialize(value, attr, data, **kwargs)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        parsed = parsed.astimezone(UTC)
        if not 1 <= parsed.year <= 9999:
            raise ValidationError("Not a valid datetime.")
        return parsed.replace(microsecond=parsed.microsecond // 1000 * 1000)


class ObjectIdString(fields.String):
    """A 24-hex-digit id; other strings are a validation error on that field."""

    def __init__(self, **kwargs):
        kwargs.setdefault("validate", validate.Regexp(r"^[0-9a-fA-F]{24}$", error="Not a valid id."))
        super().__init__(**kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else str(value)

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).lower()


class LowerEmail(fields.Email):
    """Email addresses are stored lower-cased so uniqueness is case-insensitive."""

    def __init__(self, **kwargs):
        kwargs.setdefault("validate", validate.Length(max=254))
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).strip().lower()


class Phone(fields.String):
    """A phone number stored in E.164; national numbers use DEFAULT_PHONE_REGION."""

    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {"example": "+212612345678"})
        # Checked on the raw text in _deserialize; declared here too so the API docs show the bound.
        kwargs.setdefault("validate", validate.Length(max=MAX_PHONE_LENGTH))
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if len(text) > MAX_PHONE_LENGTH:
            raise ValidationError("Not a valid phone number.")
        region = current_app.config["DEFAULT_PHONE_REGION"] if has_app_context() else "MA"
        e164 = e164_phone(text, region)
        if e164 is None:
            raise ValidationError("Not a valid phone number.")
        return e164


@functools.lru_cache(maxsize=4096)
def e164_phone(text, region):
    """`text` as E.164 when it is a valid number (national numbers read in `region`), else None.

    Remembered per worker: the same numbers come back (bulk imports, a client retrying), and a
    parse is the dearest step of validating a customer.
    """
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class Tags(fields.List):
    def __init__(self, **kwargs):
        super().__init__(
            fields.String(validate=validate.Regexp(TAG_PATTERN, error="Tags are 1-50 letters, digits, spaces, .&+/-")),
            validate=validate.Length(max=50),
            **kwargs,
        )


def text(max_length, **kwargs):
    return fields.String(validate=validate.Length(max=max_length), **kwargs)


def required_text(max_length, **kwargs):
    return fields.String(required=True, validate=validate.Length(min=1, max=max_length), **kwargs)


def one_of(choices, **kwargs):
    return fields.String(validate=validate.OneOf(choices), **kwargs)


class RecordSchema(StrictSchema):
    """Fields every stored record carries."""

    id = ObjectIdString(attribute="_id", dump_only=True)
    created_at = UtcDateTime(dump_only=True)
    updated_at = UtcDateTime(dump_only=True)


class CompleteRecordSchema(RecordSchema):
    """Every field appears in the output, null when unset, so a record always has one shape."""

    @post_dump
    def _complete(self, data, **kwargs):
        for name, field in self.dump_fields.items():
            data.setdefault(field.data_key or name, None)
        return data


class ListQuerySchema(StrictSchema):
    """page / size / sort / count / cursor / updated_since, shared by every list.

    Subclasses set `sort_fields` and `default_sort`.
    """

    sort_fields = ("created_at",)
    default_sort = "-created_at"

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_PAGE_SIZE))
    sort = fields.String(validate=validate.Length(max=200))
    count = fields.Boolean(load_default=True)
    cursor = fields.String(validate=validate.Length(max=2000))
    updated_since = UtcDateTime()

    @validates_schema
    def _check_sort(self, data, **kwargs):
        spec = data.get("sort") or self.default_sort
        names = [part.strip() for part in spec.split(",") if part.strip()]
        bad = [name for name in names if name.lstrip("-") not in self.sort_fields]
        if bad or not names or len({name.lstrip("-") for name in names}) != len(names):
            allowed = ", ".join(self.sort_fields)
            raise ValidationError(f"Sort by a comma-separated list of: {allowed} (prefix - for descending).", "sort")


def parse_sort(spec, field_map=None):
    """`-created_at,last_name` -> [("created_at", -1), ("last_name", 1)] with storage names."""
    field_map = field_map or {}
    result = []
    for part in spec.split(","):
        part = part.strip()
        if part:
            name = part.lstrip("-")
            result.append((field_map.get(name, name), -1 if part.startswith("-") else 1))
    return result
