"""The audit log (SPEC §7, §8): one entry per write by a user, with the fields changed from what to what.

Views call `record(...)` after a write has landed:

    record("update", "customers", current["_id"], before=current, after=updated)

- `changes` is `{field: {"from": ..., "to": ...}}`, diffed from the two documents. Nested objects are
  diffed field by field (`address.city`); lists are compared whole. A create diffs from nothing (only
  the fields it set), a hard delete diffs to nothing (what was deleted), so an entry always says
  what the record held. Derived and internal fields (ids, versions, timestamps, sort and search
  keys, counters, embedded histories) are left out.
- Secrets never appear: a field whose name is a secret (`password`, `*_hash`, `*token*`, `*jti*`,
  `*secret*`) is kept with both values `"[redacted]"` (null stays null), and `redact=("password",)`
  names a secret that changed when the caller does not hold (or must not pass) its value.
- The actor is the caller (`current_principal()`); anonymous writes (registration, password reset)
  name the user the write is about through `actor=user_document`. `request_id` is the request's.
- Entries are about people: every customer id the entry concerns (the customer record itself, or
  the `customer_id` of the record) is kept in `subject_ids`, so an erasure can replace that
  person's values with `"[erased]"` (`erase_subject`) while keeping the entries.
- The write has already happened when the entry is written: a failed audit insert is logged at
  ERROR with the request id (no values) and does not turn the successful write into an error.
- The hottest writes (a customer's creation, a new interaction) carry their entry instead: the view
  passes `lambda record: pending(...)` to the repository, which stores the entry in the customer's
  outbox in the same insert or update (one round trip, atomic with the record), and calls
  `outbox_written(customer_id)`; the process's OutboxMover moves the entries into the log in batches.
  Readers of the log call `settle(db)` first.
"""
import atexit
import logging
import os
import re
import threading
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache

from bson import ObjectId
from bson.decimal128 import Decimal128
from flask import current_app, g, has_app_context, has_request_context

from crm_service.repositories.audit import OUTBOX, AuditRepository
from crm_service.repositories.base import to_object_id, utcnow
from crm_service.schemas.common import iso_z

log = logging.getLogger("crm_service.audit")

REDACTED = "[redacted]"
ERASED = "[erased]"
# Derived, internal or bulky fields: never worth an audit line (the fields they derive from are).
SKIPPED_FIELDS = frozenset({
    "_id", "id", "version", "created_at", "updated_at", "search_terms", "search_prefixes", "company_terms",
    "interactions", "embedded_count", "archived_count", "interaction_count", "activity_at", "activity_key",
    "last_interaction_at", OUTBOX,
})
# Per entity: a ticket's comments are entries of their own ("comment"); stage_history follows `stage`;
# a customer's initial_status is a copy of its first status, kept for reports.
ENTITY_SKIPPED = {
    "customers": frozenset({"initial_status"}),
    "tickets": frozenset({"comments", "priority_rank", "seq"}),
    "opportunities": frozenset({"stage_history"}),
}
SECRET_NAME = re.compile(r"(^|_)(password|secret)|_hash$|token|jti", re.IGNORECASE)
# What an erasure anonymises in entries about records that themselves survive it (the same fields the
# erasure blanks in the records); entries about any other entity lose every value.
ERASED_FIELDS = {
    "tickets": {"customer_id", "subject", "description", "comment", "comments"},
    "opportunities": {"customer_id", "title", "lost_reason"},
    "sales": {"customer_id"},
}


@lru_cache(maxsize=4096)  # field names repeat; the bound keeps odd client-chosen keys from growing it
def is_secret(name):
    return bool(SECRET_NAME.search(name))


def plain(value):
    """A JSON-safe copy: ids as strings, times as ISO 8601 with Z, money as decimal strings."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    convert = _PLAIN_BY_TYPE.get(kind)  # exact types first: most values are str, None, ids, times
    if convert is not None:
        return convert(value)
    if isinstance(value, datetime):
        return iso_z(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal128):
        return str(value.to_decimal())
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return _plain_dict(value)
    if isinstance(value, (list, tuple, set)):
        return [plain(item) for item in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _plain_dict(value):
    return {str(key): (REDACTED if item is not None and is_secret(str(key)) else plain(item))
            for key, item in value.items()}


def _plain_list(value):
    return [plain(item) for item in value]


_SCALARS = frozenset((str, int, float, bool, type(None)))
_PLAIN_BY_TYPE = {
    ObjectId: str, datetime: iso_z, date: date.isoformat, Decimal: str,
    Decimal128: lambda value: str(value.to_decimal()),
    dict: _plain_dict, list: _plain_list, tuple: _plain_list, set: _plain_list,
}


def _change(name, old, new, plain_old=None, plain_new=None):
    """{"from", "to"} for one field; `plain_old`/`plain_new` when the caller has made the plain copies."""
    if is_secret(name.rsplit(".", 1)[-1]):
        return {"from": None if old is None else REDACTED, "to": None if new is None else REDACTED}
    return {"from": plain(old) if plain_old is None else plain_old,
            "to": plain(new) if plain_new is None else plain_new}


def diff(before, after, skip=frozenset(), prefix=""):
    """{field: {"from", "to"}} for every field whose value differs; nested objects field by field.

    Top-level fields in SKIPPED_FIELDS or `skip`, and sort keys (`*_key`), are left out.
    """
    before, after = before or {}, after or {}
    changes = {}
    for name in list(before) + [key for key in after if key not in before]:
        if not prefix and (name in SKIPPED_FIELDS or name in skip or name.endswith("_key")):
            continue
        old, new = before.get(name), after.get(name)
        if type(old) is type(new) and old == new:  # equal values of one type have equal plain copies
            continue
        plain_old, plain_new = plain(old), plain(new)
        if plain_old == plain_new:
            continue
        path = f"{prefix}{name}"
        objects = (old is None or isinstance(old, dict)) and (new is None or isinstance(new, dict))
        if objects and (old is not None or new is not None) and not is_secret(name):
            changes.update(diff(old, new, prefix=path + "."))
            continue
        changes[path] = _change(path, old, new, plain_old, plain_new)
    return changes


def _subjects(entity, entity_id, documents, extra):
    """The customers an entry is about: the record itself for customers, else the records' customer_id."""
    found = [entity_id] if entity == "customers" else []
    found += [document.get("customer_id") for document in documents if isinstance(document, dict)]
    found += list(extra or ())
    subjects = []
    for value in found:
        oid = to_object_id(value) if value is not None else None
        if oid is not None and oid not in subjects:
            subjects.append(oid)
    return subjects


def _actor(actor):
    if actor is not None:
        return to_object_id(actor.get("_id") or actor.get("id")), actor.get("role")
    principal = getattr(g, "principal", None) if has_request_context() else None
    if principal is None:
        return None, None
    return to_object_id(principal.user_id), principal.role


def build(action, entity, entity_id, before=None, after=None, *, changes=None, redact=(), actor=None, subjects=()):
    """The audit entry document for a write (not stored): what record() appends and an outbox carries.

    action:    "create", "update", "delete", "restore", "erase" or a named action ("resolve", ...).
    entity:    the plural resource name ("customers", "tickets", ...); entity_id: the record's id.
    before/after: the record before and after the write (None for create / hard delete); diffed.
    changes:   {field: {"from", "to"}} (or {field: (from, to)}) to record instead of the diff.
    redact:    names of secret fields that changed (e.g. "password"): recorded as "[redacted]".
    actor:     the user document to name as actor when the request has no logged-in user.
    subjects:  more customer ids the entry concerns (an erasure of one of them anonymises the entry).
    """
    if changes is None:
        changes = diff(before, after, ENTITY_SKIPPED.get(entity, frozenset()))
    else:
        changes = {name: (value if isinstance(value, dict) else {"from": value[0], "to": value[1]})
                   for name, value in changes.items()}
        changes = {name: _change(name, value.get("from"), value.get("to")) for name, value in changes.items()}
    for name in redact:
        changes[name] = {"from": REDACTED, "to": REDACTED}
    actor_id, actor_role = _actor(actor)
    # The _id is chosen here, so moving an entry out of an outbox twice stores it once.
    return {
        "_id": ObjectId(),
        "at": utcnow(),
        "actor_id": actor_id,
        "actor_role": actor_role,
        "action": action,
        "entity": entity,
        "entity_id": to_object_id(entity_id) or (None if entity_id is None else str(entity_id)),
        # Stored as a list: field paths may hold dots, which MongoDB keys should not.
        "changes": [{"field": name, "from": value["from"], "to": value["to"]} for name, value in changes.items()],
        "request_id": getattr(g, "request_id", None) if has_request_context() else None,
        "subject_ids": _subjects(entity, entity_id, (before, after), subjects),
        # `version` moves only when an erasure rewrites the entry (it makes the ETag).
        "version": 1,
    }


def record(action, entity, entity_id, before=None, after=None, *, changes=None, redact=(), actor=None,
           subjects=(), db=None):
    """Append one audit entry for a write that has happened; returns the stored entry (None if it failed).

    The arguments are build()'s; db is the database when called outside a request's app (defaults to
    get_db()).
    """
    try:
        entry = build(action, entity, entity_id, before, after, changes=changes, redact=redact, actor=actor,
                      subjects=subjects)
        return AuditRepository(db if db is not None else _db()).insert(entry)
    except Exception:  # the write it describes has landed: report loudly, never undo a success with a 500
        log.exception("audit entry not written: %s %s %s", action, entity, entity_id)
        return None


def pending(action, entity, entity_id, before=None, after=None, **options):
    """build()'s entry for a write that will carry it in its own document (an outbox); None if it failed.

    A write that cannot describe itself still happens, as with record(): the failure is logged.
    """
    try:
        return build(action, entity, entity_id, before, after, **options)
    except Exception:
        log.exception("audit entry not built: %s %s %s", action, entity, entity_id)
        return None


class OutboxMover:
    """Moves the outbox entries this process wrote into `audit_log`, every AUDIT_OUTBOX_SECONDS, off the request.

    One per app and process (a forked worker starts its own on its first outbox write). Each pass takes the
    customers this process wrote since the last, by _id; a pass that fails keeps them for the next. The
    entries are already stored with their records, so a process that dies before moving them loses
    nothing: the next read of the log (GET /audit, which sweeps every outbox first) or an erasure of that
    customer moves them. Workers never sweep on their own: on a server without the partial index a sweep
    reads every customer. With AUDIT_OUTBOX_SECONDS=0 (tests) only those reads move entries.
    """

    def __init__(self, app):
        self.app = app
        self.seconds = app.config["AUDIT_OUTBOX_SECONDS"]
        self._lock = threading.Lock()
        self._ids = set()
        self._pid = None
        self._thread = None
        self._stop = threading.Event()

    def written(self, customer_oid):
        """A customer document now carries an entry: move it on the next pass."""
        if self.seconds <= 0 or self._stop.is_set():
            return
        with self._lock:
            self._ids.add(customer_oid)
            if self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="audit-outbox", daemon=True)
                self._thread.start()
                atexit.register(self.move_now)

    def move_now(self):
        """One pass, on the calling thread; returns the entries moved."""
        with self._lock:
            ids, self._ids = self._ids, set()
        try:
            db = _db(self.app)
            return AuditRepository(db).move_outbox(db.customers, ids)
        except Exception:
            log.exception("audit outbox not moved yet (%d customers); will retry", len(ids))
            with self._lock:
                self._ids |= ids
            return 0

    def stop(self):
        """End the background passes (the entries left wait for the next read of the log)."""
        self._stop.set()

    def _run(self):
        while not self._stop.wait(self.seconds):
            self.move_now()


def init_app(app):
    app.extensions["crm_audit_outbox"] = OutboxMover(app)


def outbox_written(customer_oid):
    """Tell this process's mover that a customer document carries an audit entry to move."""
    current_app.extensions["crm_audit_outbox"].written(customer_oid)


def settle(db):
    """Move every waiting outbox entry into the log, so a read of the log (or its rewrite) sees every write."""
    return AuditRepository(db).move_outbox(db.customers)


def _db(app=None):
    """The database of `app`, or of the current app (record() outside one needs db=)."""
    from crm_service.db import get_db

    if app is None and not has_app_context():
        raise RuntimeError("record() outside an app context needs db=")
    return get_db(app)


def erased_changes(entity, changes):
    """The entry's changes with the erased person's values replaced by "[erased]" (nulls stay null)."""
    fields = ERASED_FIELDS.get(entity)
    erased = []
    for change in changes:
        if fields is None or change["field"].split(".", 1)[0] in fields:
            change = {
                "field": change["field"],
                "from": None if change["from"] is None else ERASED,
                "to": None if change["to"] is None else ERASED,
            }
        erased.append(change)
    return erased


def erase_subject(db, customer_id):
    """Keep every entry about the customer, with its values replaced by "[erased]"; returns entries touched."""
    return AuditRepository(db).rewrite_subject(to_object_id(customer_id), erased_changes)
