"""The explain() catalogue: every hot query behind the benchmarked operations, as the repositories send it.

Each operation runs its repository code once on a client with a command listener; every command it
sent that reads (find, aggregate; a write as the find of what it selects) goes back to the server as
`explain` with `executionStats`, giving the winning plan's stages and index, the keys and documents
examined and the documents returned. A find that the code stopped reading early (the feed's walk of
customers) is explained with a limit of what it actually read. Used by `bench/run.py --explain-only`
and by tests/wire/test_explain_catalogue_wire.py.
"""
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from bench.probe import RoundTripCounter, examined

INDEX_STAGES = {"IXSCAN", "IDHACK", "EXPRESS_IXSCAN", "COUNT_SCAN", "DISTINCT_SCAN"}
SORT_STAGES = {"SORT", "SORT_KEY_GENERATOR"}
PLAN_CHILDREN = ("inputStage", "inputStages", "queryPlan", "shards", "winningPlan", "thenStage", "elseStage",
                 "outerStage", "innerStage")
NAME_TERM = "hassan"
EMAIL_PREFIX = "omar.tazi"


@dataclass
class Explained:
    operation: str  # the benchmarked operation the query serves
    query: str  # which of its queries, e.g. "page" or "count"
    collection: str
    command: str
    stages: list = field(default_factory=list)
    indexes: list = field(default_factory=list)
    keys_examined: int = 0
    docs_examined: int = 0
    returned: int = 0
    sent: dict = field(default_factory=dict)  # the command as explained

    @property
    def key(self):
        return f"{self.operation}: {self.query}"

    @property
    def collection_scan(self):
        return "COLLSCAN" in self.stages

    @property
    def index_backed(self):
        return bool(INDEX_STAGES & set(self.stages)) and not self.collection_scan

    @property
    def in_memory_sort(self):
        return bool(SORT_STAGES & set(self.stages))

    def per_returned(self, count):
        return count / max(1, self.returned)


def _walk(node, stages, indexes):
    if isinstance(node, list):
        for child in node:
            _walk(child, stages, indexes)
    elif isinstance(node, Mapping):
        if "stage" in node:
            stages.append(node["stage"])
            if node.get("indexName"):
                indexes.append(node["indexName"])
        for key in PLAN_CHILDREN:
            if key in node:
                _walk(node[key], stages, indexes)


def winning_plan(explain):
    """(stage names top down, index names) of a find or aggregate explain, classic or SBE."""
    stages, indexes = [], []
    if "queryPlanner" in explain:
        _walk(explain["queryPlanner"]["winningPlan"], stages, indexes)
    else:
        for stage in explain.get("stages", []):
            if isinstance(stage, Mapping) and "$cursor" in stage:
                _walk(stage["$cursor"]["queryPlanner"]["winningPlan"], stages, indexes)
    return stages, indexes


def _explainable(record):
    command = dict(record.command)
    if record.name == "find" and record.returned:
        command["limit"] = min(command.get("limit") or record.returned, record.returned)
    if record.name == "aggregate":
        command.setdefault("cursor", {})
    return command


def explain_sent(database, counter, operation, labels, keep=None):
    """Explain every read the counter saw, named by `labels[(command, collection)]` (else numbered).

    `keep`: only the queries with these labels (an operation that repeats another's queries).
    """
    rows = []
    readable = [record for record in counter.records if record.command is not None]
    for index, record in enumerate(readable):
        label = labels.get((record.name, record.collection)) or f"{record.name} {record.collection} #{index + 1}"
        if keep is not None and label not in keep:
            continue
        sent = _explainable(record)
        explain = database.command({"explain": sent, "verbosity": "executionStats"})
        stages, indexes = winning_plan(explain)
        docs, keys = examined(explain)
        stats = explain.get("executionStats") or {}
        if record.name in ("find", "aggregate"):
            returned = record.returned
        else:  # a write explained as the find of what it selects
            returned = stats.get("nReturned", 1)
        rows.append(Explained(operation, label, record.collection or "?", record.name, stages, indexes, keys, docs,
                              returned, sent))
    return rows


def _sample(database):
    """A customer with a long embedded history, one with archived interactions (or None), and an email."""
    busiest = database.customers.find_one({"interaction_count": {"$gt": 0}, "is_active": True},
                                          {"_id": 1, "email": 1})
    archived = database.customers.find_one({"archived_count": {"$gt": 0}}, {"_id": 1})
    session = database.sessions.find_one({}, {"_id": 1})
    return busiest, archived, session


def run_catalogue(client_factory, db_name, embed_limit, *, include_write=True, include_reports=True):
    """Explain the hot queries on `db_name`; returns a list of Explained rows.

    `client_factory(listener)` makes a MongoClient with that command listener (tz-aware).
    """
    from crm_service.api.helpers import page_request, sort_of
    from crm_service.repositories.base import PageRequest, utcnow
    from crm_service.repositories.customers import CustomerRepository
    from crm_service.repositories.interactions import ElementFilter, InteractionRepository
    from crm_service.repositories.sessions import SessionRepository
    from crm_service.schemas.customers import CustomerListQuerySchema

    counter = RoundTripCounter()
    client = client_factory(counter)
    database = client[db_name]
    schema = CustomerListQuerySchema()
    from crm_service.api.customers import SORT_FIELDS

    def customer_list(**params):
        query = schema.load(params)
        CustomerRepository(database).list(query, sort_of(query, schema, SORT_FIELDS), page_request(query))

    busiest, archived, session = _sample(database)
    interactions = InteractionRepository(database, embed_limit)
    page = {("find", "customers"): "page", ("aggregate", "customers"): "count"}
    history = {("find", "customers"): "customer document", ("aggregate", "interaction_archive"): "archive count",
               ("find", "interaction_archive"): "archive page"}
    feed = {("find", "customers"): "customer walk", ("find", "interaction_archive"): "archive of walked customers",
            ("aggregate", "customers"): "total"}
    steps = [
        ("session check (auth)", {("find", "sessions"): "by _id"}, None, lambda: SessionRepository(database).is_live(
            session["_id"] if session else "no-such-session")),
        ("customer by id", {("find", "customers"): "by _id"}, None,
         lambda: CustomerRepository(database).get(busiest["_id"])),
        ("customer list page", page, None, lambda: customer_list()),
        ("search by name", page, None, lambda: customer_list(q=NAME_TERM)),
        ("search by email prefix", page, None, lambda: customer_list(email=EMAIL_PREFIX)),
        ("create customer", {("find", "customers"): "unique email lookup"}, None,
         lambda: database.customers.find_one({"email": busiest["email"]}, {"_id": 1})),
        ("interaction history page", history, None,
         lambda: interactions.history(busiest["_id"], ElementFilter(), -1, PageRequest(size=20))),
        ("feed page", feed, None, lambda: interactions.feed(ElementFilter(), PageRequest(size=20, count=False))),
        ("feed page", feed, {"total"}, lambda: interactions.feed(ElementFilter(), PageRequest(size=20, count=True))),
    ]
    if archived is not None:
        steps.append(("interaction history page, archived customer", history, None,
                      lambda: interactions.history(archived["_id"], ElementFilter(), -1, PageRequest(size=20))))
    if include_write:
        steps.append(("add interaction", {("update", "customers"): "update by _id (what it selects)"}, None,
                      lambda: interactions.add(busiest["_id"], {
                          "type": "phone", "subject": "Explain catalogue", "notes": "x", "status": "completed",
                          "follow_up_required": False})))
    if include_reports:
        steps.append(("reports summary (last 30 days)", {}, None, lambda: _reports(database, embed_limit, utcnow())))
    rows = []
    try:
        for operation, labels, keep, run in steps:
            counter.reset()
            run()
            rows += explain_sent(database, counter, operation, labels, keep)
    finally:
        client.close()
    return rows


def _reports(database, embed_limit, now):
    try:
        from crm_service.services.reports import Window, summary
    except ImportError:  # not built in this checkout
        return None
    return summary(database, embed_limit, Window(now - timedelta(days=30), now))


def verdict(row):
    problems = []
    if row.collection_scan:
        problems.append("COLLSCAN")
    elif not row.index_backed:
        problems.append("no index stage")
    if row.in_memory_sort:
        problems.append("in-memory SORT")
    return ", ".join(problems) or "ok"


HEADERS = ["operation", "query", "collection", "winning plan (top down)", "index", "keys examined",
           "docs examined", "returned", "docs/returned", "keys/returned", "verdict"]


def _number(value):
    return f"{value:.3g}" if isinstance(value, float) and value < 1000 else f"{value:,.0f}"


def catalogue_rows(rows):
    return [[row.operation, row.query, row.collection, " > ".join(row.stages) or "-", ", ".join(row.indexes) or "-",
             f"{row.keys_examined:,}", f"{row.docs_examined:,}", f"{row.returned:,}",
             _number(row.per_returned(row.docs_examined)), _number(row.per_returned(row.keys_examined)), verdict(row)]
            for row in rows]


FLATNESS_HEADERS = ["operation", "query", "docs/returned small", "docs/returned large", "ratio",
                    "keys/returned small", "keys/returned large", "ratio", "within 1.3x"]


def _ratio(small, large):
    if small == 0:
        return 1.0 if large == 0 else float("inf")
    return large / small


def flatness_rows(small_rows, large_rows, target=1.3):
    large_by_key = {row.key: row for row in large_rows}
    table = []
    for small in small_rows:
        large = large_by_key.get(small.key)
        if large is None:
            continue
        docs = (small.per_returned(small.docs_examined), large.per_returned(large.docs_examined))
        keys = (small.per_returned(small.keys_examined), large.per_returned(large.keys_examined))
        docs_ratio, keys_ratio = _ratio(*docs), _ratio(*keys)
        flat = docs_ratio <= target and keys_ratio <= target
        table.append([small.operation, small.query, _number(docs[0]), _number(docs[1]), f"{docs_ratio:.2f}",
                      _number(keys[0]), _number(keys[1]), f"{keys_ratio:.2f}", "yes" if flat else "NO"])
    return table
