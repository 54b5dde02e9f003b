"""Interactions embedded in customer documents, with the oldest moved to an archive past a limit.

A customer keeps at most INTERACTION_EMBED_LIMIT interactions in its `interactions` array,
newest first. Older ones move to `interaction_archive` (copied first, then pulled, so a crash
between the two leaves a duplicate that reads skip, never a loss; the next write for that
customer finishes the move). Every read merges both and sorts by (time, id) itself, so nothing
depends on the order of the array or on which items were archived.
"""
import operator
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, UpdateOne
from pymongo.errors import DuplicateKeyError

from .audit import OUTBOX
from .base import (
    Page,
    decode_cursor,
    encode_cursor,
    finish_migration,
    in_batches,
    migration_scope,
    to_object_id,
    utcnow,
)

HISTORY_PROJECTION = {"interactions": 1, "archived_count": 1}
FEED_PROJECTION = {"interactions": 1, "activity_key": 1, "archived_count": 1}
FEED_MAX_BATCH = 1000
# Interactions a walk's later find aims to bring: its size in customers follows the interactions per
# customer seen so far, so a batch of busy customers is as big in memory as one of quiet ones.
FEED_BATCH_ITEMS = 5000
FEED_SORT = [("activity_key", DESCENDING), ("_id", DESCENDING)]
EARLIEST = datetime(1, 1, 1, tzinfo=UTC)
MIGRATION = "activity_key"  # db.migrations marker: every customer's activity_key has been filled in
# Statuses of interactions that did not happen (yet): they never move last_interaction_at.
NOT_HAPPENED = ("scheduled", "cancelled")
COMPARISONS = {"$gte": operator.ge, "$gt": operator.gt, "$lt": operator.lt, "$lte": operator.le}


@dataclass
class ElementFilter:
    """Conditions on single interactions, usable in Python and in both collections."""

    equals: dict = field(default_factory=dict)
    ranges: dict = field(default_factory=dict)  # field -> {"$gte"/"$lt"/"$lte"/"$gt"/"$ne": value}

    def mongo(self, prefix=""):
        query = {prefix + name: value for name, value in self.equals.items()}
        for name, bounds in self.ranges.items():
            query[prefix + name] = dict(bounds)
        return query

    def matches(self, item):
        for name, value in self.equals.items():
            if item.get(name) != value:
                return False
        for name, bounds in self.ranges.items():
            actual = item.get(name)
            for op, bound in bounds.items():
                if op == "$ne":
                    if actual == bound:
                        return False
                elif actual is None or not COMPARISONS[op](actual, bound):
                    return False
        return True


def _happened(item):
    return item.get("status") not in NOT_HAPPENED


def _sort_key(item, time_field):
    return (item.get(time_field), item["id"])


def time_text(at):
    """A BSON time (milliseconds, UTC) as fixed-width text whose string order is time order."""
    if at.tzinfo is not None:
        at = at.astimezone(UTC)
    return (f"{at.year:04d}-{at.month:02d}-{at.day:02d}T{at.hour:02d}:{at.minute:02d}:{at.second:02d}"
            f".{at.microsecond // 1000:03d}")


def activity_key(occurred_at, interaction_id):
    """The feed's order (occurred_at, id) in one string: key(a) < key(b) exactly when a sorts before b.

    A customer's `activity_key` is kept at least the key of each of its interactions ($max on every
    write), so the feed's walk can stop at a customer whose key is below the page's last item even
    when many customers share that item's time (meetings on the hour).
    """
    return f"{time_text(occurred_at)}|{interaction_id}"


def item_key(item):
    return activity_key(item["occurred_at"], item["id"])


def _after_cursor(items, values, direction, time_field):
    key = (values[0], values[1])
    if direction < 0:
        return [item for item in items if _sort_key(item, time_field) < key]
    return [item for item in items if _sort_key(item, time_field) > key]


def _keyset_mongo(values, direction, time_field, prefix=""):
    op = "$lt" if direction < 0 else "$gt"
    return {"$or": [
        {prefix + time_field: {op: values[0]}},
        {prefix + time_field: values[0], prefix + "id": {op: values[1]}},
    ]}


def _paginate(items, total, page_request, sort, skip):
    """Cut one page (size + 1 tells whether there is a next one) from merged, sorted items."""
    window = items[skip:skip + page_request.size + 1]
    page_items = window[:page_request.size]
    next_cursor = None
    if len(window) > page_request.size:
        next_cursor = encode_cursor(sort, page_items[-1])
    page_number = None if page_request.cursor else page_request.page
    return Page(items=page_items, page=page_number, size=page_request.size, total=total, next_cursor=next_cursor)


def _match(oid, iid, expected_updated_at):
    """Filters for one interaction, embedded and archived; with a time, only while it is still at that time."""
    if expected_updated_at is None:
        return {"_id": oid, "interactions.id": iid}, {"customer_id": oid, "id": iid}
    return ({"_id": oid, "interactions": {"$elemMatch": {"id": iid, "updated_at": expected_updated_at}}},
            {"customer_id": oid, "id": iid, "updated_at": expected_updated_at})


def feed_customers(since=None):
    """Customers with an interaction at or after `since` (any, without it): one range of the activity_key index.

    `$gte` the earliest time rather than `$ne: None`: the same documents, and an index range.
    """
    return {"activity_key": {"$gte": time_text(since or EARLIEST)}}


def backfill_activity_keys(db, batch=1000, recheck=False):
    """Fill in `activity_key` for customers written before it existed; once per database (a marker).

    Each customer gets the key of its newest interaction, embedded or archived, through `$max`, so a
    write that lands meanwhile is never lowered. Until this has run, the feed does not see those
    customers: `crm ensure-indexes` (and a start with ENSURE_INDEXES_ON_START) runs it first. With
    `recheck`, the customers written since the last run (see `migration_scope`) go through it again
    (an interaction an old worker added did not raise the key). Returns how many customers were updated.
    """
    scope = migration_scope(db, MIGRATION, recheck)
    if scope is None:
        return 0
    started, customers, archive = utcnow(), db.customers, db.interaction_archive
    changed = 0
    # Every customer with interactions, not only those without a key: a write after the upgrade gives a
    # customer a key from its new interaction alone, which an older one (a meeting ahead) may outrank.
    projection = {"interactions.occurred_at": 1, "interactions.id": 1, "archived_count": 1}
    for documents in in_batches(customers, {**scope, "interaction_count": {"$gt": 0}}, projection, batch):
        newest_archived = _newest_archived(archive, [document["_id"] for document in documents
                                                     if document.get("archived_count")])
        updates = []
        for document in documents:
            keys = [item_key(item) for item in document.get("interactions", ()) if item.get("occurred_at")]
            if document["_id"] in newest_archived:
                keys.append(newest_archived[document["_id"]])
            if keys:
                updates.append(UpdateOne({"_id": document["_id"]}, {"$max": {"activity_key": max(keys)}}))
        if updates:
            changed += customers.bulk_write(updates, ordered=False).modified_count
    finish_migration(db, MIGRATION, started, changed, scope)
    return changed


def next_walk_batch(batch, items):
    """The size in customers of the feed walk's next find, after one of `batch` customers holding `items`
    embedded interactions: four times more, at most FEED_MAX_BATCH customers and about FEED_BATCH_ITEMS
    interactions at the rate just seen (10 customers of 500 interactions, 400 of 12)."""
    per_customer = max(1.0, items / batch)
    return max(1, min(batch * 4, FEED_MAX_BATCH, int(FEED_BATCH_ITEMS / per_customer)))


def _newest_archived(archive, customer_oids):
    """{customer id: key of its newest archived interaction} for these customers, in one aggregate
    (in the order of the `history` index, so MongoDB takes each customer's first key from it)."""
    if not customer_oids:
        return {}
    rows = archive.aggregate([
        {"$match": {"customer_id": {"$in": customer_oids}}},
        {"$sort": {"customer_id": 1, "occurred_at": -1, "id": -1}},
        {"$group": {"_id": "$customer_id", "occurred_at": {"$first": "$occurred_at"}, "id": {"$first": "$id"}}},
    ])
    return {row["_id"]: item_key(row) for row in rows if row.get("occurred_at")}


class InteractionRepository:
    def __init__(self, db, embed_limit):
        self.customers = db.customers
        self.archive = db.interaction_archive
        self.embed_limit = embed_limit

    def ids_of_customer(self, customer_oid):
        """Every interaction id of one customer, embedded and archived (an erasure tombstones each)."""
        document = self.customers.find_one({"_id": customer_oid}, {"interactions.id": 1}) or {}
        ids = [item["id"] for item in document.get("interactions", ()) if item.get("id")]
        return ids + [item["id"] for item in self.archive.find({"customer_id": customer_oid}, {"id": 1})]

    # -- writes ---------------------------------------------------------------------------

    def add(self, customer_id, interaction, audit_entry=None):
        """Embed one interaction and move the customer's times in the same atomic update.

        `audit_entry(interaction)` makes the audit entry that the same update stores in the customer's outbox.
        """
        oid = to_object_id(customer_id)
        if oid is None:
            return None
        now = utcnow()
        item = {**interaction, "id": ObjectId(), "created_at": now, "updated_at": now}
        item.setdefault("occurred_at", now)
        # One sort key: the reads order ties by id themselves (and mongomock sorts on one key only).
        update = {
            "$push": {"interactions": {"$each": [item], "$sort": {"occurred_at": -1}}},
            "$inc": {"embedded_count": 1, "interaction_count": 1, "version": 1},
            "$set": {"updated_at": now},
        }
        # $max moves the times forward only (a null field counts as lowest, as MongoDB orders it).
        update["$max"] = {"activity_key": item_key(item)}
        if _happened(item):
            update["$max"]["last_interaction_at"] = item["occurred_at"]
        entry = audit_entry({**item, "customer_id": oid}) if audit_entry is not None else None
        if entry is not None:
            update["$push"][OUTBOX] = entry
        # One round trip in the common case: the write applies only while there is room.
        roomy = self.customers.update_one({"_id": oid, "embedded_count": {"$lt": self.embed_limit}}, update)
        if not roomy.matched_count:
            if not self.customers.update_one({"_id": oid}, update).matched_count:
                return None
            self.archive_overflow(oid)
        item["customer_id"] = oid
        return item

    def archive_overflow(self, customer_oid):
        """Move the oldest embedded interactions past the limit to the archive; returns how many moved."""
        document = self.customers.find_one({"_id": customer_oid}, {"embedded_count": 1})
        excess = (document or {}).get("embedded_count", 0) - self.embed_limit
        if excess <= 0:
            return 0
        # The array is kept newest first, so its tail holds the oldest.
        tail = self.customers.find_one({"_id": customer_oid}, {"interactions": {"$slice": -excess}})
        moved = 0
        for item in (tail or {}).get("interactions", []):
            # Copy first (idempotent: the embedded copy is authoritative until pulled), then pull
            # only if still embedded, so a concurrent archiver neither loses nor double-counts it.
            # DuplicateKeyError: a concurrent archiver upserted the same copy first.
            with suppress(DuplicateKeyError):
                self.archive.replace_one({"id": item["id"]}, {**item, "customer_id": customer_oid}, upsert=True)
            result = self.customers.update_one(
                {"_id": customer_oid, "interactions.id": item["id"]},
                {"$pull": {"interactions": {"id": item["id"]}}, "$inc": {"embedded_count": -1, "archived_count": 1}},
            )
            moved += result.modified_count
        return moved

    def get(self, customer_id, interaction_id):
        oid, iid = to_object_id(customer_id), to_object_id(interaction_id)
        if oid is None or iid is None:
            return None
        document = self.customers.find_one(
            {"_id": oid, "interactions.id": iid}, {"interactions": {"$elemMatch": {"id": iid}}},
        )
        if document and document.get("interactions"):
            return {**document["interactions"][0], "customer_id": oid}
        return self.archive.find_one({"customer_id": oid, "id": iid}, {"_id": 0})

    def update(self, customer_id, interaction_id, changes, expected_updated_at=None):
        """Change one interaction where it lives; returns the updated interaction or None.

        With `expected_updated_at` (If-Match), only while the interaction is still at that time: None otherwise.
        """
        oid, iid = to_object_id(customer_id), to_object_id(interaction_id)
        if oid is None or iid is None:
            return None
        embedded_match, archived_match = _match(oid, iid, expected_updated_at)
        now = utcnow()
        changes = {**changes, "updated_at": now}
        embedded_set = {f"interactions.$.{name}": value for name, value in changes.items()}
        update = {"$set": {**embedded_set, "updated_at": now}, "$inc": {"version": 1}}
        if "occurred_at" in changes:
            update["$max"] = {"activity_key": activity_key(changes["occurred_at"], iid)}
        # update_one, not find_one_and_update: mongomock mis-applies `$` in the latter.
        if self.customers.update_one(embedded_match, update).matched_count:
            if "occurred_at" in changes:
                self._resort(oid)
            self._refresh_last_interaction(oid)
            return self.get(customer_id, interaction_id)
        result = self.archive.update_one(archived_match, {"$set": changes})
        if not result.matched_count:
            return None
        # activity_key must stay an upper bound of archived interactions too: the feed relies on it.
        moved_to = changes.get("occurred_at")
        self._refresh_last_interaction(oid, touch=True, moved_to=None if moved_to is None else (moved_to, iid))
        return self.get(customer_id, interaction_id)

    def delete(self, customer_id, interaction_id, expected_updated_at=None):
        """Delete one interaction where it lives (with `expected_updated_at`, only while still at that time)."""
        oid, iid = to_object_id(customer_id), to_object_id(interaction_id)
        if oid is None or iid is None:
            return False
        embedded_match, archived_match = _match(oid, iid, expected_updated_at)
        result = self.customers.update_one(
            embedded_match,
            {"$pull": {"interactions": {"id": iid}},
             "$inc": {"embedded_count": -1, "interaction_count": -1, "version": 1},
             "$set": {"updated_at": utcnow()}},
        )
        if result.modified_count:
            # A copy left by an interrupted archive move would bring it back; it was never counted.
            self.archive.delete_one({"customer_id": oid, "id": iid})
            self._refresh_last_interaction(oid)
            return True
        deleted = self.archive.delete_one(archived_match).deleted_count
        if deleted:
            self.customers.update_one({"_id": oid}, {"$inc": {"archived_count": -1, "interaction_count": -1}})
            self._refresh_last_interaction(oid, touch=True)
        return bool(deleted)

    def _resort(self, oid):
        resort = {"$push": {"interactions": {"$each": [], "$sort": {"occurred_at": -1}}}}
        self.customers.update_one({"_id": oid}, resort)

    def _refresh_last_interaction(self, oid, touch=False, moved_to=None):
        """Recompute last_interaction_at after an edit or delete, from both the array and the archive.

        Edits can leave an archived interaction newer than every embedded one, so both are read.
        `touch` also bumps the customer's version, for changes made in the archive only;
        `moved_to` (an archived interaction's new time and its id) moves activity_key forward.
        """
        document = self.customers.find_one({"_id": oid}, {"interactions.occurred_at": 1, "interactions.status": 1})
        if document is None:
            return
        done = [item["occurred_at"] for item in document.get("interactions", []) if _happened(item)]
        latest_archived = self.archive.find_one(
            {"customer_id": oid, "status": {"$nin": list(NOT_HAPPENED)}}, {"occurred_at": 1},
            sort=[("occurred_at", DESCENDING), ("id", DESCENDING)],
        )
        if latest_archived:
            done.append(latest_archived["occurred_at"])
        update = {"$set": {"last_interaction_at": max(done) if done else None}}
        if touch:
            update["$set"]["updated_at"] = utcnow()
            update["$inc"] = {"version": 1}
        if moved_to is not None:
            update["$max"] = {"activity_key": activity_key(*moved_to)}
        self.customers.update_one({"_id": oid}, update)

    # -- reads ----------------------------------------------------------------------------

    def history(self, customer_id, element_filter, direction, page_request):
        """One customer's interactions (embedded and archived) in time order; None if no customer."""
        oid = to_object_id(customer_id)
        if oid is None:
            return None
        document = self.customers.find_one({"_id": oid}, HISTORY_PROJECTION)
        if document is None:
            return None
        sort = [("occurred_at", direction), ("id", direction)]
        embedded = document.get("interactions", [])
        items = [{**item, "customer_id": oid} for item in embedded if element_filter.matches(item)]
        items.sort(key=lambda item: _sort_key(item, "occurred_at"), reverse=direction < 0)
        total = len(items)
        values, skip = self._position(page_request, sort)
        if values is not None:
            items = _after_cursor(items, values, direction, "occurred_at")
        if document.get("archived_count"):
            archive_query = {"customer_id": oid, **element_filter.mongo()}
            if embedded:
                # Skip copies of still-embedded items (an interrupted move): listed and counted once.
                archive_query["id"] = {"$nin": [item["id"] for item in embedded]}
            if page_request.count:
                total += self.archive.count_documents(archive_query)
            if values is not None:
                archive_query = {"$and": [archive_query, _keyset_mongo(values, direction, "occurred_at")]}
            archived = list(self.archive.find(archive_query, {"_id": 0})
                            .sort(sort).limit(skip + page_request.size + 1))
            items = self._merge(items, archived, direction, "occurred_at")
        return _paginate(items, total if page_request.count else None, page_request, sort, skip)

    def feed(self, element_filter, page_request, customer_id=None):
        """Every customer's interactions, newest first.

        Customers are walked in `activity_key` order (an upper bound of the (time, id) of each of their
        interactions, embedded or archived; index-backed); the walk stops once the next customer's key
        is below the page's last item, so no customer left unwalked has an interaction that belongs on
        the page. The id in the key lets the walk stop among customers that share the last item's time.
        The archive is read only for walked customers whose `archived_count` says they have archived
        interactions (one index-backed query), so a page without any costs one round trip.
        Without filters the total is one aggregate: the sum of the customers' `interaction_count`.
        """
        sort = [("occurred_at", DESCENDING), ("id", DESCENDING)]
        values, skip = self._position(page_request, sort)
        want = skip + page_request.size + 1
        customer_query = feed_customers(element_filter.ranges.get("occurred_at", {}).get("$gte"))
        if customer_id is not None:
            customer_query["_id"] = to_object_id(customer_id)
        collected, with_archive = [], []
        for document in self._walk(customer_query, want):
            if len(collected) >= want and document["activity_key"] < item_key(collected[want - 1]):
                break
            if document.get("archived_count"):
                with_archive.append(document["_id"])
            for item in document.get("interactions", []):
                if element_filter.matches(item):
                    collected.append({**item, "customer_id": document["_id"]})
            if values is not None:
                collected = _after_cursor(collected, values, DESCENDING, "occurred_at")
            collected.sort(key=lambda item: _sort_key(item, "occurred_at"), reverse=True)
            del collected[want:]
        archived = []
        if with_archive:
            archive_query = {"customer_id": {"$in": with_archive}, **element_filter.mongo()}
            if values is not None:
                archive_query = {"$and": [archive_query, _keyset_mongo(values, DESCENDING, "occurred_at")]}
            archived = list(self.archive.find(archive_query, {"_id": 0}).sort(sort).limit(want))
        items = self._merge(collected, archived, DESCENDING, "occurred_at")
        total = None
        if page_request.count:
            total = self._count_feed(customer_query, element_filter, customer_id)
        return _paginate(items, total, page_request, sort, skip)

    def _walk(self, customer_query, want):
        """Customers newest activity first, in bounded finds that the server closes itself.

        The first find asks for `want + 1` customers (enough when each has an interaction), later
        ones for more (`next_walk_batch`), each after the last customer seen: a walk that stops
        early leaves no open cursor behind (closing one would cost a killCursors round trip). A
        batch is let go before the next is read, so a deep page holds one batch of customers with
        their interactions at a time, of about FEED_BATCH_ITEMS interactions.
        """
        batch, query = want + 1, customer_query
        while True:
            documents = list(self.customers.find(query, FEED_PROJECTION).sort(FEED_SORT).limit(batch)
                             .batch_size(batch))
            yield from documents
            if len(documents) < batch:
                return
            last = documents[-1]
            items = sum(len(document.get("interactions", ())) for document in documents)
            del documents
            query = {**customer_query,
                     "activity_key": {**customer_query["activity_key"], "$lte": last["activity_key"]},
                     "$or": [{"activity_key": {"$lt": last["activity_key"]}},
                             {"activity_key": last["activity_key"], "_id": {"$lt": last["_id"]}}]}
            batch = next_walk_batch(batch, items)

    def _count_feed(self, customer_query, element_filter, customer_id):
        """Every interaction the feed lists: one aggregate without filters, else embedded + archived."""
        if not element_filter.equals and not element_filter.ranges:
            # interaction_count counts each interaction once, wherever it lives (a copy caught
            # mid-archive included); customers with none have no activity_key or a count of 0.
            rows = list(self.customers.aggregate([
                {"$match": customer_query},
                {"$group": {"_id": None, "n": {"$sum": "$interaction_count"}}},
            ]))
            return rows[0]["n"] if rows else 0
        archive_query = element_filter.mongo()
        if customer_id is not None:
            archive_query["customer_id"] = to_object_id(customer_id)
        return self._count_embedded(customer_query, element_filter) + self.archive.count_documents(archive_query)

    def scheduled(self, element_filter, time_field, page_request):
        """Interactions matching `element_filter`, soonest `time_field` first (meetings, follow-ups)."""
        sort = [(time_field, ASCENDING), ("id", ASCENDING)]
        values, skip = self._position(page_request, sort)
        want = skip + page_request.size + 1
        customer_id = element_filter.equals.get("customer_id")
        embedded_filter = ElementFilter(
            {k: v for k, v in element_filter.equals.items() if k != "customer_id"}, element_filter.ranges,
        )
        customer_query = {"interactions": {"$elemMatch": embedded_filter.mongo()}}
        if customer_id is not None:
            customer_query["_id"] = customer_id
        element_match = embedded_filter.mongo("interactions.")
        if values is not None:
            element_match = {"$and": [element_match, _keyset_mongo(values, ASCENDING, time_field, "interactions.")]}
        pipeline = [
            {"$match": customer_query},
            {"$project": {"interactions": 1}},
            {"$unwind": "$interactions"},
            {"$match": element_match},
            {"$sort": {f"interactions.{time_field}": 1, "interactions.id": 1}},
            {"$limit": want},
        ]
        embedded = [{**row["interactions"], "customer_id": row["_id"]} for row in self.customers.aggregate(pipeline)]
        archive_query = element_filter.mongo()
        paged_archive_query = archive_query
        if values is not None:
            paged_archive_query = {"$and": [archive_query, _keyset_mongo(values, ASCENDING, time_field)]}
        archived = list(self.archive.find(paged_archive_query, {"_id": 0}).sort(sort).limit(want))
        items = self._merge(embedded, archived, ASCENDING, time_field)
        total = None
        if page_request.count:
            total = self._count_embedded(customer_query, embedded_filter) + self.archive.count_documents(archive_query)
        return _paginate(items, total, page_request, sort, skip)

    # -- helpers --------------------------------------------------------------------------

    @staticmethod
    def _position(page_request, sort):
        if page_request.cursor:
            return decode_cursor(page_request.cursor, sort), 0
        return None, (page_request.page - 1) * page_request.size

    @staticmethod
    def _merge(embedded, archived, direction, time_field):
        """Merge two lists in sort order; an item caught mid-archive is in both and the embedded copy wins."""
        embedded_ids = {item["id"] for item in embedded}
        merged = embedded + [item for item in archived if item["id"] not in embedded_ids]
        merged.sort(key=lambda item: _sort_key(item, time_field), reverse=direction < 0)
        return merged

    def _count_embedded(self, customer_query, element_filter):
        pipeline = [
            {"$match": customer_query},
            {"$project": {"interactions": 1}},
            {"$unwind": "$interactions"},
            {"$match": element_filter.mongo("interactions.")},
            {"$count": "n"},
        ]
        rows = list(self.customers.aggregate(pipeline))
        return rows[0]["n"] if rows else 0
