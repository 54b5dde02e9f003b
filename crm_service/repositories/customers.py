"""Customers; their embedded interaction histories are handled by interactions.py."""
import functools
import re

import phonenumbers
from bson import ObjectId
from pymongo import ReturnDocument, UpdateOne

from .audit import OUTBOX, WAITING, AuditRepository
from .base import (
    MAX_SEARCH_LENGTH,
    find_page,
    finish_migration,
    fold,
    in_batches,
    migration_scope,
    prefix_pattern,
    to_object_id,
    utcnow,
    words,
)

# Reads never carry the embedded history, the index-only fields or audit entries waiting to move.
HIDDEN_FIELDS = ("interactions", "search_terms", "search_prefixes", "company_terms", OUTBOX)
RECORD_PROJECTION = dict.fromkeys(HIDDEN_FIELDS, 0)
SEARCH_KINDS = ("n", "e", "p")
# Each search word is stored with its prefixes up to this many characters, so a typed word is found by
# equality on the `search` index (sorted by created_at there); a longer word adds a regex check of the full word.
PREFIX_LIMIT = 16
NOTHING = {"_id": {"$exists": False}}
PHONE_LIKE = re.compile(r"^[\d\s().+-]+$")


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
        "search_prefixes": search_prefixes(terms),
    }


def search_prefixes(terms):
    """Every prefix, 1 to PREFIX_LIMIT characters, of each term's word, without its kind: "smi" for "n:smith".

    Without the kind, a `q` word (any kind) is one equality on the `search` index, and so is the first
    word of every search: one index range, already in created_at order.
    """
    heads = (term.partition(":")[2][:PREFIX_LIMIT] for term in terms)
    return sorted({head[:end] for head in heads for end in range(1, len(head) + 1)})


def word_lookups(kinds, texts):
    """(prefixes, checks): each of `texts` starts a customer's word of one of `kinds`.

    Each text gives its first PREFIX_LIMIT characters, to be matched by equality on `search_prefixes`.
    Where that alone does not say it (a longer text, or only some kinds of word), a check of the full
    text against the stored words is added: a filter on what the index found, not another index.
    No text (say "(", with no letters or digits) matches nothing.
    """
    prefixes, checks = [], []
    for text in texts:
        text = fold(text)[:MAX_SEARCH_LENGTH]
        prefixes.append(text[:PREFIX_LIMIT])
        if len(text) > PREFIX_LIMIT or tuple(kinds) != SEARCH_KINDS:
            checks.append({"search_terms": {"$in": [prefix_pattern(f"{kind}:{text}") for kind in kinds]}})
    return prefixes, checks if prefixes else [NOTHING]


def prefixes_condition(prefixes):
    """One prefix: an equality (the index range); several: `$all` (MongoDB takes one as the range)."""
    unique = list(dict.fromkeys(prefixes))
    return unique[0] if len(unique) == 1 else {"$all": unique}


PREFIX_MIGRATION = "search_prefixes"  # db.migrations marker: every customer has its search_prefixes


def backfill_search_prefixes(db, batch=1000, recheck=False):
    """Give customers written before `search_prefixes` existed their prefixes; once per database (a marker).

    Each update applies only while the customer's search words are still those it was computed from: a
    rename meanwhile has written its own prefixes. Until this has run, searches do not find those
    customers: `crm ensure-indexes` (and a start with ENSURE_INDEXES_ON_START) runs it first. With
    `recheck`, the customers written since the last run (see `migration_scope`) get their prefixes
    again where they differ from their words (a rename by an old worker leaves them stale).
    Returns how many customers were updated.
    """
    scope = migration_scope(db, PREFIX_MIGRATION, recheck)
    if scope is None:
        return 0
    started, customers, changed = utcnow(), db.customers, 0
    query = scope or {"search_prefixes": {"$exists": False}}
    for documents in in_batches(customers, query, {"search_terms": 1, "search_prefixes": 1}, batch):
        updates = []
        for document in documents:
            terms = document.get("search_terms") or []
            prefixes = search_prefixes(terms)
            if document.get("search_prefixes") != prefixes:
                updates.append(UpdateOne({"_id": document["_id"], "search_terms": terms},
                                         {"$set": {"search_prefixes": prefixes}}))
        if updates:
            changed += customers.bulk_write(updates, ordered=False).modified_count
    finish_migration(db, PREFIX_MIGRATION, started, changed, scope)
    return changed


def _lookup(prefixes, checks):
    condition = {"search_prefixes": prefixes_condition(prefixes)} if prefixes else {}
    return {**condition, "$and": checks} if checks else condition


def _free_text(text):
    """`q`: (prefixes, clauses) for words of the name, email or phone.

    A phone typed with spaces ("06 12 34") also matches as one number: then the two readings are an
    `$or`, each with its own prefixes, and nothing is left for the top-level equality.
    """
    prefixes, checks = word_lookups(SEARCH_KINDS, words(text)[:5])
    digits = re.sub(r"\D", "", text)
    if not PHONE_LIKE.match(text) or len(digits) < 2 or len(words(text)) < 2:
        return prefixes, checks
    return [], [{"$or": [_lookup(prefixes, checks), _lookup(*word_lookups(("p",), [digits]))]}]


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
        prefixes = []
        for found, checks in self._searches(filters):
            prefixes += found
            clauses += checks
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
        if prefixes:
            # A top-level equality (the dev server, secantusdb, uses no index for a condition under $and).
            query["search_prefixes"] = prefixes_condition(prefixes)
        if clauses:
            # Kept under $and even for one clause: secantusdb answered a top-level regex on a multikey
            # field with no rows. Real MongoDB plans both alike.
            query["$and"] = clauses
        return query

    @staticmethod
    def _searches(filters):
        """(prefixes, clauses) of each search filter given: `q`, `name`, `email`, `phone`."""
        if filters.get("q", "").strip():
            yield _free_text(filters["q"])
        if filters.get("name", "").strip():
            yield word_lookups(("n",), words(filters["name"])[:5])
        if filters.get("email", "").strip():
            yield word_lookups(("e",), [filters["email"].strip()])
        if filters.get("phone"):
            digits = re.sub(r"\D", "", filters["phone"])
            yield word_lookups(("p",), [digits] if digits else [])

    def list(self, filters, sort, page_request, only_id=None):
        query = self.build_query(filters, only_id)
        return find_page(self.collection, query, sort, page_request, RECORD_PROJECTION)
