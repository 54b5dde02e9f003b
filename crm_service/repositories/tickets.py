"""Tickets, their numbers (an atomic counter) and their comments."""
import re

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from .base import find_page, prefix_pattern, to_object_id, utcnow, words

COUNTER_ID = "tickets"
NUMBER_PATTERN = re.compile(r"^t-?0*(\d{1,12})$", re.IGNORECASE)
PRIORITY_RANK = {"low": 0, "normal": 1, "high": 2, "urgent": 3}
# The comments array is capped so a ticket document stays far below MongoDB's 16 MB limit.
MAX_COMMENTS = 500
ERASED = "[erased]"
ERASE_ATTEMPTS = 5
NOTHING = {"_id": {"$exists": False}}


def _list_projection():
    """A fresh dict each time (drivers and mongomock may add `_id` to one they are given): lists skip comments."""
    return {"comments": 0, "search_terms": 0}


def format_number(seq):
    return f"T-{seq:06d}"


def search_terms(seq, subject):
    """Index-only words: `n:<number>` for the ticket number and `s:<word>` for each word of the subject."""
    return sorted({f"n:{seq}"} | {f"s:{word}" for word in words(subject)})


def status_fields(target, user_oid, now):
    """What a move to `target` sets besides the status: resolving records who and when, reopening clears it."""
    fields = {"status": target}
    if target == "resolved":
        fields.update(resolved_at=now, resolved_by=user_oid)
    elif target == "open":
        fields.update(resolved_at=None, resolved_by=None)
    return fields


def _search_clauses(text):
    """A ticket number (`T-000042`, `t42`, `42`) finds that ticket; otherwise every word starts a subject word.

    A word of digits may also be a ticket number. Text with no letters or digits matches nothing.
    """
    text = text.strip()
    number = NUMBER_PATTERN.match(text)
    if number and not text.isdigit():
        return [{"search_terms": f"n:{int(number.group(1))}"}]
    clauses = []
    for word in words(text)[:5]:
        subject_word = prefix_pattern(f"s:{word}")
        if word.isdigit() and len(word) <= 12:
            clauses.append({"search_terms": {"$in": [f"n:{int(word)}", subject_word]}})
        else:
            clauses.append({"search_terms": subject_word})
    return clauses or [NOTHING]


class TicketRepository:
    def __init__(self, db):
        self.collection = db.tickets
        self.counters = db.counters

    def next_seq(self):
        """The next ticket number from one atomic `$inc`: concurrent creators never share one."""
        for _ in range(3):
            try:
                counter = self.counters.find_one_and_update(
                    {"_id": COUNTER_ID}, {"$inc": {"seq": 1}}, upsert=True, return_document=ReturnDocument.AFTER,
                )
                return counter["seq"]
            except DuplicateKeyError:
                # Two first-ever upserts raced to insert the counter; the loser now finds it and increments.
                continue
        raise RuntimeError("could not allocate a ticket number")

    def create(self, fields, created_by):
        now = utcnow()
        seq = self.next_seq()
        document = {
            "number": format_number(seq),
            "seq": seq,
            "customer_id": fields["customer_id"],
            "subject": fields["subject"],
            "description": fields.get("description"),
            "priority": fields.get("priority", "normal"),
            "priority_rank": PRIORITY_RANK[fields.get("priority", "normal")],
            "status": "open",
            "assignee_id": fields.get("assignee_id"),
            "created_by": created_by,
            "resolved_at": None,
            "resolved_by": None,
            "comments": [],
            "search_terms": search_terms(seq, fields["subject"]),
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        document["_id"] = self.collection.insert_one(document).inserted_id
        return document

    def get(self, ticket_id):
        oid = to_object_id(ticket_id)
        return self.collection.find_one({"_id": oid}) if oid else None

    def _write(self, query, changes, extra=None):
        update = {"$set": {**changes, "updated_at": utcnow()}, "$inc": {"version": 1}, **(extra or {})}
        return self.collection.find_one_and_update(query, update, return_document=ReturnDocument.AFTER)

    def update(self, current, changes, user_oid):
        """Apply `changes` if the ticket is still at `current`'s version; None when it moved on.

        The caller has checked a status change against the flow from `current`'s status; the version
        filter makes sure that status is still the one in the database when the write lands.
        """
        changes = dict(changes)
        if "status" in changes:
            changes.update(status_fields(changes["status"], user_oid, utcnow()))
        if "priority" in changes:
            changes["priority_rank"] = PRIORITY_RANK[changes["priority"]]
        if "subject" in changes:
            changes["search_terms"] = search_terms(current["seq"], changes["subject"])
        return self._write({"_id": current["_id"], "version": current["version"]}, changes)

    def transition(self, ticket_id, target, sources, user_oid):
        """Move to `target` only if the status is one of `sources` at the moment of the write; None otherwise."""
        oid = to_object_id(ticket_id)
        if oid is None:
            return None
        return self._write({"_id": oid, "status": {"$in": list(sources)}}, status_fields(target, user_oid, utcnow()))

    def assign(self, ticket_id, assignee_oid):
        return self._write({"_id": to_object_id(ticket_id)}, {"assignee_id": assignee_oid})

    def add_comment(self, ticket_id, author_oid, body, internal):
        """Append a comment; None when the ticket is gone or already holds MAX_COMMENTS."""
        comment = {"id": ObjectId(), "author_id": author_oid, "body": body, "internal": internal,
                   "created_at": utcnow()}
        query = {"_id": to_object_id(ticket_id), f"comments.{MAX_COMMENTS - 1}": {"$exists": False}}
        return self._write(query, {}, {"$push": {"comments": comment}})

    def delete(self, current):
        """Delete the ticket if it is still at `current`'s version; False when it moved on (or is gone)."""
        return self.collection.delete_one({"_id": current["_id"], "version": current["version"]}).deleted_count == 1

    def build_query(self, filters, only_customer=None):
        """A MongoDB filter from validated, typed filters only; `only_customer` confines a customer user."""
        query = {}
        customer_id = only_customer if only_customer is not None else filters.get("customer_id")
        if customer_id is not None:
            query["customer_id"] = to_object_id(customer_id)
        for name in ("status", "priority"):
            if filters.get(name):
                query[name] = filters[name]
        if filters.get("assignee_id"):
            query["assignee_id"] = to_object_id(filters["assignee_id"])
        if filters.get("updated_since"):
            query["updated_at"] = {"$gt": filters["updated_since"]}
        if filters.get("q", "").strip():
            query["$and"] = _search_clauses(filters["q"])
        return query

    def list(self, filters, sort, page_request, only_customer=None):
        query = self.build_query(filters, only_customer)
        return find_page(self.collection, query, sort, page_request, _list_projection())


def erase_customer(db, customer_oid):
    """Privacy erasure: the person's tickets stay for statistics, their text becomes "[erased]".

    Subject, description and every comment body go (staff comments may quote the person too); the
    search words go with them, leaving only the ticket number findable. Each write is guarded by the
    version it was computed from, so a comment added meanwhile is erased on the retry, never lost.
    Returns the number of tickets touched.
    """
    touched = 0
    for ticket in db.tickets.find({"customer_id": customer_oid}, {"_id": 1}):
        for _ in range(ERASE_ATTEMPTS):
            current = db.tickets.find_one({"_id": ticket["_id"]})
            if current is None:
                break
            changes = {
                "subject": ERASED,
                "description": None if current.get("description") is None else ERASED,
                "comments": [{**comment, "body": ERASED} for comment in current.get("comments", [])],
                "search_terms": [f"n:{current['seq']}"],
                "updated_at": utcnow(),
            }
            result = db.tickets.update_one({"_id": current["_id"], "version": current["version"]},
                                           {"$set": changes, "$inc": {"version": 1}})
            if result.matched_count:
                touched += 1
                break
        else:
            raise RuntimeError("a ticket kept changing during an erasure")
    return touched
