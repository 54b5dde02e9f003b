"""Money: exact decimals in and out (decimal strings), Decimal128 in MongoDB, never binary floats."""
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from bson.decimal128 import Decimal128
from marshmallow import ValidationError, fields, validate

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("1000000000000")  # 10^12 in any currency is surely a typo


def to_decimal(value):
    """A Decimal from what the database or the client gave (Decimal128, Decimal, str, int)."""
    if isinstance(value, Decimal128):
        return value.to_decimal()
    if isinstance(value, float):
        # Floats only come from JSON numbers; go through their shortest repr, not their binary value.
        return Decimal(repr(value))
    return Decimal(value)


def to_stored(amount):
    """What to store: Decimal128 of the amount rounded to cents."""
    return Decimal128(to_decimal(amount).quantize(CENT, rounding=ROUND_HALF_EVEN))


def money_string(value):
    return None if value is None else str(to_decimal(value).quantize(CENT, rounding=ROUND_HALF_EVEN))


class Money(fields.Field):
    """A non-negative amount as a decimal string ("1234.50") or JSON number; loads to Decimal128."""

    default_error_messages = {"invalid": "Not a valid amount: use a decimal like \"1234.50\"."}

    def __init__(self, **kwargs):
        metadata = {"type": "string", "format": "decimal", "example": "1234.50", **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return money_string(value)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise self.make_error("invalid")
        try:
            amount = to_decimal(value.strip() if isinstance(value, str) else value)
        except (InvalidOperation, ValueError) as exc:
            raise self.make_error("invalid") from exc
        if not amount.is_finite() or amount < 0 or amount > MAX_AMOUNT:
            raise ValidationError(f"Must be between 0 and {MAX_AMOUNT}.")
        if amount != amount.quantize(CENT, rounding=ROUND_HALF_EVEN):
            raise ValidationError("At most two decimal places.")
        return to_stored(amount)


def currency(**kwargs):
    """An ISO 4217 code: three capital letters."""
    return fields.String(validate=validate.Regexp(r"^[A-Z]{3}$", error="A 3-letter ISO 4217 code, e.g. MAD."),
                         **kwargs)
