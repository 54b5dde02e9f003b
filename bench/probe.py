"""Round trips per request (a pymongo command listener on an in-process app) and explain() of what was sent."""
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from pymongo import monitoring

EXPLAINABLE = ("find", "aggregate", "count", "distinct")
# Writes are explained as the find of the documents they select (explaining a write itself is not
# supported everywhere); inserts select nothing.
WRITES = {"findAndModify": ("query",), "update": ("updates", "q"), "delete": ("deletes", "q")}
# Session, transaction and routing fields of a sent command that an explain must not carry.
DROPPED_KEYS = ("lsid", "txnNumber", "autocommit", "startTransaction", "readConcern", "writeConcern", "batchSize",
                "singleBatch")
# The bodies bench/lua/create_customer.lua and add_interaction.lua send.
INTERACTION_BODY = {"type": "phone", "subject": "Bench call", "notes": "Logged by the load test."}


def customer_body(tag, number):
    return {"first_name": "Bench", "last_name": f"Load {number}", "email": f"{tag}-{number}@bench.example",
            "phone": "+212612345678", "tags": ["bench"]}


@dataclass
class CommandRecord:
    name: str
    collection: str | None
    command: dict | None  # kept (cleaned) for commands explain() can run
    returned: int = 0  # documents the server returned for a find, its getMores included

    @property
    def label(self):
        return f"{self.name} {self.collection}" if self.collection else self.name


def clean_command(command):
    """A sent command stripped of session and routing fields, ready to wrap in explain."""
    return {key: value for key, value in command.items() if not key.startswith("$") and key not in DROPPED_KEYS}


def write_as_find(name, command):
    """The find that selects what a findAndModify, or the first statement of an update or delete, writes."""
    path = WRITES[name]
    if name == "findAndModify":
        query, limit = command.get("query", {}), 1
    else:
        statements = command.get(path[0]) or [{}]
        statement = statements[0]
        query = statement.get(path[1], {})
        many = statement.get("multi", False) if name == "update" else statement.get("limit", 0) == 0
        limit = 0 if many else 1
    find = {"find": command.get(name), "filter": query}
    if limit:
        find["limit"] = limit
    return find


class RoundTripCounter(monitoring.CommandListener):
    """Every command a client sends is one round trip; find results are tallied across getMores."""

    def __init__(self):
        self.records = []
        self._pending = {}
        self._cursor_owner = {}

    def reset(self):
        self.records = []
        self._pending = {}
        self._cursor_owner = {}

    def started(self, event):
        name = event.command_name
        command = event.command
        if name == "getMore":
            collection = command.get("collection")
        else:
            target = command.get(name)
            collection = target if isinstance(target, str) else None
        if name in EXPLAINABLE:
            explainable = clean_command(command)
        elif name in WRITES:
            explainable = write_as_find(name, command)
        else:
            explainable = None
        record = CommandRecord(name, collection, explainable)
        self.records.append(record)
        self._pending[event.request_id] = (record, command.get("getMore") if name == "getMore" else None)

    def succeeded(self, event):
        record, cursor_id = self._pending.pop(event.request_id, (None, None))
        reply = event.reply
        if record is None or not isinstance(reply, Mapping) or not isinstance(reply.get("cursor"), Mapping):
            return
        cursor = reply["cursor"]
        owner = self._cursor_owner.get(cursor_id, record) if record.name == "getMore" else record
        owner.returned += len(cursor.get("firstBatch", cursor.get("nextBatch", [])))
        if cursor.get("id"):
            self._cursor_owner[cursor["id"]] = owner

    def failed(self, event):
        self._pending.pop(event.request_id, None)

    @property
    def round_trips(self):
        return len(self.records)

    def breakdown(self):
        return dict(Counter(record.label for record in self.records))

    def explain_commands(self):
        """The read commands sent, each limited to what the request actually read of its cursor."""
        commands = []
        for record in self.records:
            if record.command is None:
                continue
            command = dict(record.command)
            if record.name == "find" and record.returned:
                command["limit"] = min(command.get("limit") or record.returned, record.returned)
            commands.append(command)
        return commands


def examined(explain):
    """(documents, keys) examined according to an explain's executionStats, whatever its shape.

    A top-level executionStats wins over the per-stage ones below it, so nothing is counted twice.
    """
    if isinstance(explain, Mapping):
        stats = explain.get("executionStats")
        if isinstance(stats, Mapping) and "totalDocsExamined" in stats:
            return stats.get("totalDocsExamined", 0), stats.get("totalKeysExamined", 0)
        docs = keys = 0
        for value in explain.values():
            more_docs, more_keys = examined(value)
            docs, keys = docs + more_docs, keys + more_keys
        return docs, keys
    if isinstance(explain, list):
        docs = keys = 0
        for value in explain:
            more_docs, more_keys = examined(value)
            docs, keys = docs + more_docs, keys + more_keys
        return docs, keys
    return 0, 0


def result_count(body):
    """How many records an answer carries: the items of a page, or one record."""
    if isinstance(body, Mapping) and isinstance(body.get("items"), list):
        return len(body["items"])
    return 1


def record_ids(body):
    """The ids an answer names, service (`id`) or floor (`_id`) alike, for comparing the two."""
    items = body["items"] if isinstance(body, Mapping) and isinstance(body.get("items"), list) else [body]
    return [str(item.get("id") or item.get("_id")) for item in items if isinstance(item, Mapping)]


@dataclass
class Probe:
    round_trips: float
    commands: dict
    docs_per_result: float | None
    keys_per_result: float | None
    seconds_per_request: float  # in-process wall time: above SLOW_SECONDS the load skips its warm-up


SLOW_SECONDS = 1.0


def probe_operation(test_client, counter, database, operation, paths, token, tag, repeats):
    """Send up to `repeats` requests in-process (one if it is slow); round trips and examined documents."""
    headers = {"Authorization": f"Bearer {token}"}
    trips, breakdowns, first = [], Counter(), None
    started = time.monotonic()
    for number in range(repeats):
        if trips and time.monotonic() - started > SLOW_SECONDS:
            break
        body = None
        if operation.key == "create_customer":
            body = customer_body(tag, number)
        elif operation.key == "add_interaction":
            body = INTERACTION_BODY
        counter.reset()
        response = test_client.open(paths[number % len(paths)], method=operation.method, json=body,
                                    headers=headers)
        if response.status_code >= 400:
            raise RuntimeError(f"{operation.key}: in-process request answered {response.status_code}: "
                               f"{response.get_data(as_text=True)[:300]}")
        trips.append(counter.round_trips)
        breakdowns.update(counter.breakdown())
        if first is None:
            first = (counter.explain_commands(), response.get_json())
    elapsed = time.monotonic() - started
    commands, answer = first
    docs = keys = 0
    for command in commands:
        explained = database.command({"explain": command, "verbosity": "executionStats"})
        more_docs, more_keys = examined(explained)
        docs, keys = docs + more_docs, keys + more_keys
    results = max(1, result_count(answer))
    return Probe(
        round_trips=sum(trips) / len(trips),
        commands={name: count / len(trips) for name, count in breakdowns.items()},
        docs_per_result=docs / results,
        keys_per_result=keys / results,
        seconds_per_request=elapsed / len(trips),
    )
