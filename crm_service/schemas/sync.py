"""Delta sync: the tombstone list's query and items."""
from marshmallow import fields, validate

from .common import MAX_PAGE_SIZE, ObjectIdString, StrictSchema, UtcDateTime, one_of

# Plural resource names, as in permissions (`crm:read:<entity>`) and the audit log.
ENTITIES = ("companies", "customers", "feedback", "interactions", "opportunities", "products", "sales", "segments",
            "tickets", "users")


class TombstoneSchema(StrictSchema):
    entity = fields.String(dump_only=True, metadata={"enum": list(ENTITIES)})
    id = ObjectIdString(attribute="entity_id", dump_only=True)
    deleted_at = UtcDateTime(dump_only=True)


class DeletedQuerySchema(StrictSchema):
    """Like every list's paging (no sort: always oldest first), with `since` instead of `updated_since`."""

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_PAGE_SIZE))
    count = fields.Boolean(load_default=True)
    cursor = fields.String(validate=validate.Length(max=2000))
    since = UtcDateTime(required=True, metadata={
        "description": "Tombstones with deleted_at at or after this time (a date means 00:00 UTC)."})
    entity = one_of(ENTITIES, metadata={"description": "Only this entity (plural resource name)."})
