"""The audit log: append-only entries, listed newest first, rewritten only by a privacy erasure.

The outbox: a hot write (a customer's creation, an interaction) carries its entry in the document it
writes, under OUTBOX, so the record and its entry land in one atomic command (one round trip).
move_outbox() copies such entries into `audit_log` under the _id they were made with, then removes them
from the document: run twice or cut short by a crash, it stores each entry once and loses none.
"""
from pymongo.errors import BulkWriteError

from .base import find_page, time_window, to_object_id

OUTBOX = "audit_outbox"
WAITING = OUTBOX + "._id"  # exists while an entry waits (an outbox left empty by a cut-short move does not count)
DUPLICATE_KEY = 11000


def _public():
    """A fresh projection each time (drivers and mongomock may add `_id` to one they are given)."""
    return {"subject_ids": 0}


class AuditRepository:
    def __init__(self, db):
        self.collection = db.audit_log

    def insert(self, entry):
        """Store one entry made by services.audit.build (its _id, `at` and `version` included)."""
        self.collection.insert_one(entry)
        return entry

    def move_outbox(self, source, ids=None, batch=500):
        """Move the entries waiting in `source` documents (those of `ids`, or all) into the log; returns how many.

        Each pass: one find, one insert of the batch's entries, and one update that removes the outboxes
        holding only those entries (entries pushed meanwhile stay for the next pass; see _empty). The sweep of all
        documents uses the partial index on WAITING, which holds only documents with entries waiting.
        """
        query = {WAITING: {"$exists": True}}
        if ids is not None:
            ids = list(ids)
            if not ids:
                return 0
            query = {"_id": {"$in": ids}, **query}
        moved = 0
        while True:
            holders = list(source.find(query, {OUTBOX: 1}).limit(batch))
            entries = [entry for holder in holders for entry in holder.get(OUTBOX) or ()]
            if entries:
                self._insert_once(entries)
            if holders:
                self._empty(source, holders, [entry["_id"] for entry in entries])
            moved += len(entries)
            if len(holders) < batch:
                return moved

    @staticmethod
    def _empty(source, holders, moved):
        """Remove the moved entries: one update per document, none left behind.

        The common case is one `$unset` of outboxes that hold nothing but moved entries. A document
        that gained an entry since the find keeps it: those few lose only the moved ones (`$pull`).
        """
        held = [holder["_id"] for holder in holders]
        only_moved = {"$not": {"$elemMatch": {"_id": {"$nin": moved}}}}
        emptied = source.update_many({"_id": {"$in": held}, OUTBOX: only_moved}, {"$unset": {OUTBOX: ""}})
        if emptied.matched_count < len(held):
            source.update_many({"_id": {"$in": held}, WAITING: {"$in": moved}},
                               {"$pull": {OUTBOX: {"_id": {"$in": moved}}}})

    def _insert_once(self, entries):
        """Insert every entry; one already in the log (an earlier move that did not finish) is skipped."""
        try:
            self.collection.insert_many(entries, ordered=False)
        except BulkWriteError as error:
            details = error.details
            if details.get("writeConcernErrors") or any(
                    failure.get("code") != DUPLICATE_KEY for failure in details.get("writeErrors", ())):
                raise

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
