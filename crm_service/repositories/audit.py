"""The audit log: append-only entries, listed newest first, rewritten only by a privacy erasure."""
from .base import find_page, time_window, to_object_id, utcnow


def _public():
    """A fresh projection each time (drivers and mongomock may add `_id` to one they are given)."""
    return {"subject_ids": 0}


class AuditRepository:
    def __init__(self, db):
        self.collection = db.audit_log

    def insert(self, entry):
        # `version` moves only when an erasure rewrites the entry (it makes the ETag).
        document = {"at": utcnow(), **entry, "version": 1}
        document["_id"] = self.collection.insert_one(document).inserted_id
        return document

    def get(self, entry_id):
        oid = to_object_id(entry_id)
        return self.collection.find_one({"_id": oid}, _public()) if oid else None

    @staticmethod
    def build_query(filters):
        """A MongoDB filter from validated, typed filters only."""
        query = {}
        for name in ("entity", "action"):
            if filters.get(name):
                query[name] = filters[name]
        for name in ("entity_id", "actor_id"):
            if filters.get(name):
                query[name] = to_object_id(filters[name])
        return time_window(filters, query, "at")

    def list(self, filters, sort, page_request):
        return find_page(self.collection, self.build_query(filters), sort, page_request, _public())

    def rewrite_subject(self, customer_oid, rewrite):
        """Replace the `changes` of every entry about `customer_oid` with rewrite(entity, changes)."""
        if customer_oid is None:
            return 0
        touched = 0
        entries = self.collection.find({"subject_ids": customer_oid}, {"entity": 1, "changes": 1})
        for entry in entries:
            changes = rewrite(entry.get("entity"), entry.get("changes") or [])
            result = self.collection.update_one({"_id": entry["_id"]},
                                                {"$set": {"changes": changes}, "$inc": {"version": 1}})
            touched += result.matched_count
        return touched
