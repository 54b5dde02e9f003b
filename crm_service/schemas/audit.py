"""Audit entries (read-only) and the audit list's filters."""
from marshmallow import fields, pre_dump, validate

from .common import ListQuerySchema, ObjectIdString, StrictSchema, UtcDateTime

NAME = validate.Regexp(r"^[a-z][a-z0-9_]{0,39}$", error="A lower-case name such as customers or update.")


# `from` is a Python keyword, hence from_dict.
ChangeSchema = StrictSchema.from_dict(
    {"from": fields.Raw(allow_none=True), "to": fields.Raw(allow_none=True)}, name="ChangeSchema",
)


class AuditEntrySchema(StrictSchema):
    id = ObjectIdString(attribute="_id", dump_only=True)
    at = UtcDateTime(dump_only=True)
    actor_id = ObjectIdString(dump_only=True, allow_none=True, metadata={
        "description": "The user who made the change; for registration, the new user itself."})
    actor_role = fields.String(dump_only=True, allow_none=True)
    action = fields.String(dump_only=True, metadata={
        "description": "create, update, delete, restore, erase, or a named action (resolve, reopen, assign, "
                       "comment, recalculate, change_password)."})
    entity = fields.String(dump_only=True, metadata={"description": "The plural resource name, e.g. customers."})
    entity_id = fields.String(dump_only=True, allow_none=True)
    changes = fields.Dict(keys=fields.String(), values=fields.Nested(ChangeSchema), dump_only=True, metadata={
        "description": "{field: {from, to}}; nested fields as `address.city`. Secrets are \"[redacted]\"; "
                       "after a privacy erasure the person's values are \"[erased]\"."})
    request_id = fields.String(dump_only=True, allow_none=True)

    @pre_dump
    def _changes_by_field(self, entry, **kwargs):
        # Stored as a list of {field, from, to} (field paths hold dots); answered keyed by field.
        changes = {change["field"]: {"from": change.get("from"), "to": change.get("to")}
                   for change in entry.get("changes") or []}
        return {**entry, "changes": changes}


class AuditListQuerySchema(ListQuerySchema):
    """Filters of GET /audit; an append-only log is filtered by `from`/`to`, not `updated_since`."""

    class Meta(ListQuerySchema.Meta):
        exclude = ("updated_since",)

    sort_fields = ("at",)
    default_sort = "-at"

    entity = fields.String(validate=NAME, metadata={"description": "Plural resource name, e.g. tickets"})
    entity_id = ObjectIdString()
    actor_id = ObjectIdString()
    action = fields.String(validate=NAME)
    from_ = UtcDateTime(data_key="from", metadata={"description": "at on or after this time"})
    to = UtcDateTime(metadata={"description": "at before this time (exclusive)"})
