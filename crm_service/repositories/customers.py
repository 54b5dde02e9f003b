"""Customers; their embedded interaction histories are handled by interactions.py."""
import functools
import re

import phonenumbers
from bson import ObjectId
from pymongo import ReturnDocument

from .audit import OUTBOX, WAITING, AuditRepository
from .base import find_page, fold, prefix_pattern, to_object_id, utcnow, words

# Reads never carry the embedded history, the index-only fields or audit entries waiting to move.
HIDDEN_FIELDS = ("interactions", "search_terms", "company_terms", OUTBOX)
RECORD_PROJECTION = dict.fromkeys(HIDDEN_FIELDS, 0)
SEARCH_KINDS = ("n", "e", "p")


@functools.lru_cache(maxsize=4096)
def _phone_terms(phone):
    """The digits of the stored (E.164) number and of its national form; remembered per worker."""
    if not phone:
        return ()
    terms = [re.sub(r"\D", "", phone)]
    try:
        national = phonenumbers.format_number(phonenumbers.parse(phone), phonenumbers.PhoneNumberFormat.NATIONAL)
        terms.append(re.sub(r"\D", "", national))
    except phonenumbers.NumberParseException:
        pass
    return tuple(terms)


def derived_fields(document):
    """Index-only fields: a sort key for last_name and prefixed search words (n: name, e: email, p: phone)."""
    email = document.get("email") or ""
    terms = {f"n:{word}" for word in words(document.get("first_name")) + words(document.get("last_name"))}
    domain = email.rpartition("@")[2] if "@" in email else ""
    # The whole address, its words, and its domain (so "@example.com" and "example.com" find it too).
    terms |= {f"e:{part}" for part in [email] + words(email) + ([domain, "@" + domain] if domain else [])}
    terms |= {f"p:{digits}" for digits in _phone_terms(document.get("phone"))}
    return {
        "last_name_key": fold(document.get("last_name") or "") or None,
        "search_terms": sorted(terms),
    }


NOTHING = {"_id": {"$exists": False}}
PHONE_LIKE = re.compile(r"^[\d\s().+-]+$")


def _search_clause(kinds, text):
    """Every word of `text` must start one of the customer's words of the given kinds.

    Text with no letters or digits (say "(") can start no word, so it matches nothing.
    """
    clauses = []
    for word in words(text)[:5]:
        patterns = [prefix_pattern(f"{kind}:{word}") for kind in kinds]
        clauses.append({"search_terms": {"$in": patterns}})
    return clauses or [NOTHING]


def _free_text_clause(text):
    """`q`: words of the name, email or phone; a phone typed with spaces ("06 12 34") also matches as one number."""
    by_words = _search_clause(SEARCH_KINDS, text)
    digits = re.sub(r"\D", "", text)
    if not PHONE_LIKE.match(text) or len(digits) < 2 or len(words(text)) < 2:
        return by_words
    by_phone = {"search_terms": prefix_pattern("p:" + digits)}
    return [{"$or": [{"$and": by_words}, by_phone]}]


class CustomerRepository:
    def __init__(self, db):
        self.collection = db.customers
        # Interactions past the embed limit live in the archive; erasure must reach them too.
        self.archive = db.interaction_archive

    def create(self, fields, company=None, audit_entry=None):
        """Insert the customer; `audit_entry(record)` makes the entry to store with it in the same insert."""
        now = utcnow()
        document = {
            "_id": ObjectId(),
            **fields,
            "company_id": company["_id"] if company else None,
            "company_name": company["name"] if company else None,
            "company_terms": words(company["name"]) if company else [],
            # Never changed afterwards: the report's conversion rate counts leads/prospects that became active.
            "initial_status": fields.get("status", "lead"),
            "last_interaction_at": None,
            "activity_key": None,
            "interactions": [],
            "embedded_count": 0,
            "archived_count": 0,
            "interaction_count": 0,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        document.update(derived_fields(document))
        # Not RECORD_PROJECTION's keys: mongomock adds "_id" to a projection dict it is given.
        record = {key: value for key, value in document.items() if key not in HIDDEN_FIELDS}
        entry = audit_entry(record) if audit_entry is not None else None
        if entry is not None:
            document[OUTBOX] = [entry]
        self.collection.insert_one(document)
        return record

    def get(self, customer_id):
        oid = to_object_id(customer_id)
        return self.collection.find_one({"_id": oid}, RECORD_PROJECTION) if oid else None

    def exists(self, customer_id):
        oid = to_object_id(customer_id)
        return oid is not None and self.collection.count_documents({"_id": oid}, limit=1) == 1

    def update(self, customer_id, changes, current, company=None):
        """Apply `changes` if the record is still at `current`'s version; None when it moved on."""
        oid = to_object_id(customer_id)
        changes = dict(changes)
        if "company_id" in changes:
            changes["company_id"] = company["_id"] if company else None
            changes["company_name"] = company["name"] if company else None
            changes["company_terms"] = words(company["name"]) if company else []
        if {"first_name", "last_name", "email", "phone"} & set(changes):
            changes.update(derived_fields({**current, **changes}))
        changes["updated_at"] = utcnow()
        return self.collection.find_one_and_update(
            {"_id": oid, "version": current["version"]},
            {"$set": changes, "$inc": {"version": 1}},
            projection=RECORD_PROJECTION,
            return_document=ReturnDocument.AFTER,
        )

    def set_active(self, customer_id, active):
        oid = to_object_id(customer_id)
        return self.collection.find_one_and_update(
            {"_id": oid},
            {"$set": {"is_active": active, "updated_at": utcnow()}, "$inc": {"version": 1}},
            projection=RECORD_PROJECTION,
            return_document=ReturnDocument.AFTER,
        )

    def erase(self, customer_id):
        """Remove the record, its embedded history and its archived interactions."""
        oid = to_object_id(customer_id)
        if oid is None:
            return False
        self.archive.delete_many({"customer_id": oid})
        return self._delete(oid)

    def _delete(self, oid):
        """Delete the document once the audit entries it carries are in the log (a write in between: again)."""
        audit_log = AuditRepository(self.collection.database)
        while True:
            audit_log.move_outbox(self.collection, [oid])
            if self.collection.delete_one({"_id": oid, WAITING: {"$exists": False}}).deleted_count:
                return True
            if self.collection.find_one({"_id": oid}, {"_id": 1}) is None:
                return False

    def build_query(self, filters, only_id=None):
        """A MongoDB filter from validated, typed filters only."""
        query = {}
        clauses = []
        if only_id is not None:
            query["_id"] = only_id
        if filters.get("is_active") is not None:
            query["is_active"] = filters["is_active"]
        for name in ("status", "contact_type", "loyalty_status", "region"):
            if filters.get(name):
                query[name] = filters[name]
        for name in ("company_id", "owner_id"):
            if filters.get(name):
                query[name] = to_object_id(filters[name])
        if filters.get("tags"):
            query["tags"] = {"$all": filters["tags"]}
        if filters.get("q", "").strip():
            clauses += _free_text_clause(filters["q"])
        if filters.get("name", "").strip():
            clauses += _search_clause(("n",), filters["name"])
        if filters.get("email"):
            clauses.append({"search_terms": prefix_pattern("e:" + filters["email"].strip().lower())})
        if filters.get("phone"):
            digits = re.sub(r"\D", "", filters["phone"])
            clauses.append({"search_terms": prefix_pattern("p:" + digits)} if digits else {"_id": None})
        if filters.get("company", "").strip():
            clauses += [{"company_terms": prefix_pattern(word)} for word in words(filters["company"])[:5]] or [NOTHING]
        created = {}
        if filters.get("created_after"):
            created["$gte"] = filters["created_after"]
        if filters.get("created_before"):
            created["$lt"] = filters["created_before"]
        if created:
            query["created_at"] = created
        if filters.get("updated_since"):
            query["updated_at"] = {"$gt": filters["updated_since"]}
        if clauses:
            # Kept under $and even for one clause: secantusdb (the dev server) answers a top-level
            # regex on the multikey search_terms index with no rows. Real MongoDB plans both alike.
            query["$and"] = clauses
        return query

    def list(self, filters, sort, page_request, only_id=None):
        query = self.build_query(filters, only_id)
        return find_page(self.collection, query, sort, page_request, RECORD_PROJECTION)
