"""The floor: a minimal Flask + pymongo app that makes only the database calls of each benchmarked operation.

No token verification, validation, schemas, error shape, logging or cursors: each route sends the
same queries, with the same filters, projections and sorts, as the service sends for that operation,
and returns the documents as JSON. That includes the two calls SPEC requires around the operation
itself: the login lookup every authenticated request makes (revocation lives in MongoDB: a find_one
by _id on `sessions`, the session id read from the token's payload without checking the signature),
and, on writes, the audit entry: carried in the written document's outbox, as the service does, and moved
into `audit_log` in batches by a background thread every second (the service's own move_outbox, the same
database calls as the service's worker makes). The benchmark serves it with the same
gunicorn settings as the service, so the ratio of their CPU per request is the price of everything
the service does on top of talking to the database; round trips are judged separately, against
each operation's own minimum. Keep the queries in step with the repositories.
"""
import base64
import json
import os
import re
import threading
import time
from datetime import UTC, datetime, timedelta

from bson import ObjectId
from bson.decimal128 import Decimal128
from flask import Flask, jsonify, request
from flask.json.provider import DefaultJSONProvider
from pymongo import DESCENDING, MongoClient

# Imported at start-up, not in a measured request.
from crm_service.db import CachedDatabase
from crm_service.repositories.audit import AuditRepository
from crm_service.repositories.customers import PREFIX_LIMIT, derived_fields, prefixes_condition
from crm_service.repositories.interactions import activity_key, item_key, next_walk_batch, time_text
from crm_service.repositories.reports import ReportRepository

EARLIEST = datetime(1, 1, 1, tzinfo=UTC)
FEED_PROJECTION = {"interactions": 1, "activity_key": 1, "archived_count": 1}
WALK_SORT = [("activity_key", DESCENDING), ("_id", DESCENDING)]
RECORD_PROJECTION = {"interactions": 0, "search_terms": 0, "search_prefixes": 0, "company_terms": 0}
HISTORY_PROJECTION = {"interactions": 1, "archived_count": 1}
CUSTOMER_SORT = [("created_at", DESCENDING), ("_id", DESCENDING)]
FEED_SORT = [("occurred_at", DESCENDING), ("id", DESCENDING)]


class JSONProvider(DefaultJSONProvider):
    sort_keys = False

    @staticmethod
    def default(value):
        if isinstance(value, ObjectId):
            return str(value)
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, Decimal128):
            return str(value.to_decimal())
        return DefaultJSONProvider.default(value)


app = Flask(__name__)
app.json = JSONProvider(app)
_client = {"pid": None, "client": None, "db": None}


def db():
    """One client per worker process, made after gunicorn forks, with the service's client options."""
    if _client["pid"] != os.getpid():
        # The service's timeouts (bench/run.py raises them): the driver's monitor times out on
        # connectTimeoutMS, and a server it thinks down cancels the requests in flight.
        _client["client"] = MongoClient(
            os.environ["MONGO_URI"],
            serverSelectionTimeoutMS=int(os.environ.get("MONGO_SERVER_SELECTION_TIMEOUT_MS", "3000")),
            connectTimeoutMS=int(os.environ.get("MONGO_CONNECT_TIMEOUT_MS", "3000")),
            socketTimeoutMS=int(os.environ.get("MONGO_SOCKET_TIMEOUT_MS", "10000")), maxPoolSize=50,
            w="majority", tz_aware=True, appname="crm-bench-floor",
        )
        _client["pid"] = os.getpid()
        # Each collection made once, as the service does (a minimal app would keep them at module level).
        _client["db"] = CachedDatabase(_client["client"], os.environ.get("MONGO_DB_NAME", "crm"))
    return _client["db"]


@app.before_request
def login_lookup():
    """The session lookup of the service's token check (not on /health)."""
    header = request.headers.get("Authorization", "")
    if request.path.startswith("/health") or not header.startswith("Bearer "):
        return
    payload = header[7:].split(".")[1]
    sid = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))).get("sid")
    db().sessions.find_one({"_id": sid}, {"revoked": 1})


def audit(action, entity, entity_id, after):
    """The audit entry of a create (every field set, from nothing), to carry in the written document."""
    return {
        "_id": ObjectId(), "at": datetime.now(UTC), "actor_id": None, "actor_role": "admin", "action": action,
        "entity": entity, "entity_id": entity_id, "request_id": None, "subject_ids": [], "version": 1,
        "changes": [{"field": name, "from": None, "to": value} for name, value in after.items()],
    }


_outbox = {"pid": None, "ids": set(), "lock": threading.Lock()}


def outbox_written(customer_oid):
    """As the service's mover: the customers this process wrote are moved every second."""
    with _outbox["lock"]:
        _outbox["ids"].add(customer_oid)
        if _outbox["pid"] != os.getpid():
            _outbox["pid"] = os.getpid()
            threading.Thread(target=_move_outboxes, daemon=True).start()


def _move_outboxes():
    while True:
        time.sleep(1)
        with _outbox["lock"]:
            ids, _outbox["ids"] = _outbox["ids"], set()
        try:
            AuditRepository(db()).move_outbox(db().customers, ids)
        except Exception:  # noqa: BLE001 (a slow database: keep the ids for the next pass, as the service does)
            with _outbox["lock"]:
                _outbox["ids"] |= ids


def _page_args():
    page = int(request.args.get("page", 1))
    size = int(request.args.get("size", 20))
    return page, size, request.args.get("count", "true") != "false"


def _page(items, page, size, total):
    return jsonify({"items": items[:size], "page": page, "size": size, "total": total,
                    "pages": None if total is None else -(-total // size), "next_cursor": None})


@app.get("/health/live")
def live():
    return jsonify({"status": "ok"})


@app.get("/customers/<customer_id>")
def get_customer(customer_id):
    return jsonify(db().customers.find_one({"_id": ObjectId(customer_id)}, RECORD_PROJECTION))


@app.get("/customers")
def list_customers():
    """The list (is_active=true) and `q`: each word must start a name, email or phone word (its stored prefixes)."""
    page, size, count = _page_args()
    query = {"is_active": True}
    words = [word for word in re.split(r"[^\w]+", request.args.get("q", "").lower()) if word][:5]
    if words:
        query["search_prefixes"] = prefixes_condition([word[:PREFIX_LIMIT] for word in words])
        long_words = [word for word in words if len(word) > PREFIX_LIMIT]
        if long_words:
            query["$and"] = [{"search_terms": {"$in": [re.compile(f"^{kind}:{re.escape(word)}") for kind in "nep"]}}
                             for word in long_words]
    customers = db().customers
    found = list(customers.find(query, RECORD_PROJECTION).sort(CUSTOMER_SORT).skip((page - 1) * size)
                 .limit(size + 1))
    return _page(found, page, size, customers.count_documents(query) if count else None)


@app.post("/customers")
def create_customer():
    body = request.get_json()
    now = datetime.now(UTC)
    document = {
        **body, "email": body["email"].lower(), "company_id": None, "company_name": None, "company_terms": [],
        "contact_type": "individual", "status": "lead", "loyalty_status": "new", "is_active": True,
        "last_interaction_at": None, "activity_key": None, "interactions": [], "embedded_count": 0,
        "archived_count": 0, "interaction_count": 0, "version": 1, "created_at": now, "updated_at": now,
    }
    # The service's own index-only fields (sort key, search words, their prefixes): the same document, so
    # the database maintains the same index keys for both apps (about 80 in `search` for this body).
    document.update(derived_fields(document))
    document["_id"] = ObjectId()
    document["audit_outbox"] = [audit("create", "customers", document["_id"], body)]
    db().customers.insert_one(document)
    outbox_written(document["_id"])
    for hidden in ("interactions", "search_terms", "search_prefixes", "company_terms", "audit_outbox"):
        document.pop(hidden)
    return jsonify(document), 201


EMBED_LIMIT = int(os.environ.get("INTERACTION_EMBED_LIMIT", "500"))


@app.post("/customers/<customer_id>/interactions")
def add_interaction(customer_id):
    """The repository's write while the customer has room: one update_one."""
    now = datetime.now(UTC)
    item = {**request.get_json(), "id": ObjectId(), "occurred_at": now, "status": "completed",
            "follow_up_required": False, "created_at": now, "updated_at": now}
    oid = ObjectId(customer_id)
    db().customers.update_one(
        {"_id": oid, "embedded_count": {"$lt": EMBED_LIMIT}},
        {"$push": {"interactions": {"$each": [item], "$sort": {"occurred_at": -1}},
                   "audit_outbox": audit("create", "interactions", item["id"], request.get_json())},
         "$inc": {"embedded_count": 1, "interaction_count": 1, "version": 1},
         "$set": {"updated_at": now},
         "$max": {"activity_key": activity_key(now, item["id"]), "last_interaction_at": now}},
    )
    outbox_written(oid)
    item["customer_id"] = customer_id
    return jsonify(item), 201


@app.get("/customers/<customer_id>/interactions")
def history(customer_id):
    """The embedded array is kept newest first; one read gives the page and the total."""
    page, size, count = _page_args()
    oid = ObjectId(customer_id)
    document = db().customers.find_one({"_id": oid}, HISTORY_PROJECTION)
    items = document.get("interactions", [])
    start = (page - 1) * size
    window = [{**item, "customer_id": oid} for item in items[start:start + size + 1]]
    return _page(window, page, size, len(items) if count else None)


def _walk(database, customer_query, want):
    """The repository's walk: bounded finds, newest activity first, each after the last customer seen."""
    batch, query = want + 1, customer_query
    while True:
        documents = list(database.customers.find(query, FEED_PROJECTION).sort(WALK_SORT).limit(batch)
                         .batch_size(batch))
        yield from documents
        if len(documents) < batch:
            return
        last = documents[-1]
        items = sum(len(document.get("interactions", ())) for document in documents)
        del documents  # as the repository: one batch held at a time
        query = {**customer_query, "activity_key": {"$gte": time_text(EARLIEST), "$lte": last["activity_key"]},
                 "$or": [{"activity_key": {"$lt": last["activity_key"]}},
                         {"activity_key": last["activity_key"], "_id": {"$lt": last["_id"]}}]}
        batch = next_walk_batch(batch, items)  # the repository's batch sizes: the same finds


@app.get("/interactions")
def feed():
    """The repository's feed: walk customers newest activity first, the archive of walked customers that
    have archived interactions (if any), then the total."""
    page, size, count = _page_args()
    want = page * size + 1
    database = db()
    customer_query = {"activity_key": {"$gte": time_text(EARLIEST)}}
    collected, with_archive = [], []
    for document in _walk(database, customer_query, want):
        if len(collected) >= want and document["activity_key"] < item_key(collected[want - 1]):
            break
        if document.get("archived_count"):
            with_archive.append(document["_id"])
        collected.extend({**item, "customer_id": document["_id"]} for item in document.get("interactions", []))
        collected.sort(key=lambda item: (item["occurred_at"], item["id"]), reverse=True)
        del collected[want:]
    archived = []
    if with_archive:
        archived = list(database.interaction_archive.find({"customer_id": {"$in": with_archive}}, {"_id": 0})
                        .sort(FEED_SORT).limit(want))
    items = sorted(collected + archived, key=lambda item: (item["occurred_at"], item["id"]), reverse=True)
    total = None
    if count:
        rows = list(database.customers.aggregate([
            {"$match": customer_query}, {"$group": {"_id": None, "n": {"$sum": "$interaction_count"}}},
        ]))
        total = rows[0]["n"] if rows else 0
    start = (page - 1) * size
    return _page(items[start:start + size + 1], page, size, total)


@app.get("/reports/summary")
def reports_summary():
    """The report's queries over the default window (the last 30 days), answered as they come back.

    The pipelines are the service's own ReportRepository's: they are the database calls, and a copy
    of eleven pipelines here could only drift from them. What the floor leaves out is what the
    service does around them (the figures and rates, the schema, the chart URLs, auth).
    """
    end = datetime.now(UTC)
    start = end - timedelta(days=30)
    repository = ReportRepository(db(), EMBED_LIMIT)
    resolved = repository.tickets_resolved(start, end)
    totals, months = repository.sales(start, end)
    feedback_count, average_rating, ratings = repository.feedback(start, end)
    sent, opened = repository.emails(start, end)
    return jsonify({
        "customers": repository.customers(start, end),
        "interactions": repository.interactions_by_type(start, end),
        "tickets_opened": repository.tickets_opened_by_status(start, end), "tickets_resolved": resolved,
        "tickets_open_now": repository.tickets_open_now(),
        "median_hours_to_resolve": repository.median_hours_to_resolve(start, end, resolved),
        "opportunities_created": repository.opportunities_created_by_stage(start, end),
        "opportunities_closed": repository.opportunities_closed(start, end),
        "sales_totals": totals, "sales_months": months,
        "feedback": {"count": feedback_count, "average": average_rating,
                     "ratings": {str(rating): count for rating, count in ratings.items()}},
        "emails": {"sent": sent, "opened": opened},
    })
