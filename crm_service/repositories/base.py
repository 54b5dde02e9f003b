"""Helpers every repository shares: ids, clock, keyset cursors and paged finds."""
import base64
import binascii
import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bson import ObjectId
from bson.errors import InvalidId

from crm_service.errors import invalid

MAX_SEARCH_LENGTH = 100


def utcnow():
    """Now in UTC, cut to milliseconds as BSON stores it."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def time_window(filters, query, field, lower="from_", upper="to"):
    """Put `lower <= field < upper` into `query` for whichever bounds `filters` gives (none: no condition)."""
    bounds = {}
    if filters.get(lower):
        bounds["$gte"] = filters[lower]
    if filters.get(upper):
        bounds["$lt"] = filters[upper]
    if bounds:
        query[field] = bounds
    return query


def to_object_id(value):
    """The ObjectId for a client-supplied id, or None when it cannot be one."""
    if isinstance(value, ObjectId):
        return value
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        return None


def fold(text):
    """Lower-case and strip accents, so 'Zoë' is found by 'zoe'."""
    text = text or ""
    if text.isascii():  # nothing to decompose: most names and every e-mail address
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def words(text):
    return [word for word in re.split(r"[^\w]+", fold(text)) if word]


def prefix_pattern(text):
    """An anchored, escaped, length-capped regex: free text never becomes a pattern."""
    return re.compile("^" + re.escape(fold(text)[:MAX_SEARCH_LENGTH]))


@dataclass
class PageRequest:
    page: int = 1
    size: int = 20
    count: bool = True
    cursor: str | None = None


@dataclass
class Page:
    items: list
    page: int | None
    size: int
    total: int | None
    next_cursor: str | None

    @property
    def pages(self):
        if self.total is None or self.page is None:
            return None
        return -(-self.total // self.size)


def _encode_value(value):
    if isinstance(value, datetime):
        return {"d": value.isoformat()}
    if isinstance(value, ObjectId):
        return {"o": str(value)}
    return value


def _decode_value(value):
    if isinstance(value, dict):
        if set(value) == {"d"} and isinstance(value["d"], str):
            parsed = datetime.fromisoformat(value["d"])
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        if set(value) == {"o"} and ObjectId.is_valid(value["o"]):
            return ObjectId(value["o"])
        raise ValueError("bad cursor value")
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        raise ValueError("bad cursor number")
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise ValueError("bad cursor value")


def _check_type(field, value):
    """Ids must come back as ids and times as times: a hand-edited cursor never reaches a comparison."""
    name = field.rsplit(".", 1)[-1]
    if name in ("_id", "id") and not isinstance(value, ObjectId):
        raise ValueError("bad cursor id")
    if name.endswith("_at") and value is not None and not isinstance(value, datetime):
        raise ValueError("bad cursor time")
    return value


def sort_label(sort):
    return ",".join(("-" if direction < 0 else "") + field for field, direction in sort)


def encode_cursor(sort, document):
    values = [_encode_value(_get_path(document, field)) for field, _ in sort]
    raw = json.dumps({"s": sort_label(sort), "v": values}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor, sort):
    """The sort values a cursor stands for; a cursor from another sort or a forged one is 422."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(data, dict) or not isinstance(data.get("v"), list):
            raise ValueError("not a cursor")
        if data.get("s") != sort_label(sort) or len(data["v"]) != len(sort):
            raise ValueError("cursor belongs to another sort")
        return [_check_type(field, _decode_value(value)) for (field, _), value in zip(sort, data["v"], strict=True)]
    except (ValueError, KeyError, TypeError, RecursionError, binascii.Error) as exc:
        raise invalid({"cursor": ["Not a valid cursor for this list and sort."]}) from exc


def _get_path(document, field):
    value = document
    for part in field.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _after(field, value, direction):
    """The condition for values that sort after `value` (nulls sort lowest, as in MongoDB)."""
    if direction > 0:
        return {field: {"$ne": None}} if value is None else {field: {"$gt": value}}
    if value is None:
        return None
    return {"$or": [{field: {"$lt": value}}, {field: None}]}


def keyset_filter(sort, values):
    """Documents strictly after the position `values` in `sort` order."""
    clauses = []
    for index, (field, direction) in enumerate(sort):
        condition = _after(field, values[index], direction)
        if condition is None:
            continue
        equal = [{sort[i][0]: values[i]} for i in range(index)]
        clauses.append({"$and": equal + [condition]} if equal else condition)
    return {"$or": clauses} if clauses else {"_id": {"$exists": False}}


def with_tiebreak(sort):
    """Ties are always broken by _id so pages never overlap."""
    if any(field == "_id" for field, _ in sort):
        return list(sort)
    return list(sort) + [("_id", sort[-1][1] if sort else -1)]


def find_page(collection, query, sort, page_request, projection=None):
    """One page of `query` in `sort` order: two round trips when counting, one without."""
    sort = with_tiebreak(sort)
    size = page_request.size
    if page_request.cursor:
        values = decode_cursor(page_request.cursor, sort)
        page_query = {"$and": [query, keyset_filter(sort, values)]} if query else keyset_filter(sort, values)
        skip = 0
        page_number = None
    else:
        page_query = query
        page_number = page_request.page
        skip = (page_number - 1) * size
    found = list(collection.find(page_query, projection).sort(sort).skip(skip).limit(size + 1))
    items = found[:size]
    next_cursor = encode_cursor(sort, items[-1]) if len(found) > size else None
    total = collection.count_documents(query) if page_request.count else None
    return Page(items=items, page=page_number, size=size, total=total, next_cursor=next_cursor)


def in_batches(collection, query, projection, size):
    """Lists of up to `size` documents matching `query`, from one cursor that fetches `size` at a time.

    For migrations that write between reads: each batch is fetched just before it is used, so the
    server never sees the cursor idle for longer than one batch's writes. With the default batches (up
    to 16 MiB: some 50,000 small documents) it sat idle through 50 batches of writes and expired on
    secantusdb at 100,000 customers (CursorNotFound; MongoDB's idle-cursor timeout is 10 minutes).
    """
    batch = []
    for document in collection.find(query, projection).batch_size(size):
        batch.append(document)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


# A re-check covers the customers written since the last run less this margin: a rolling upgrade's old
# workers may run on clocks a little behind the one that recorded the run.
RECHECK_MARGIN = timedelta(hours=1)


def migration_scope(db, name, recheck=False):
    """The customers a one-time backfill has to visit: `{}` for all of them (it has not run yet), None
    when it has run, or with `recheck` a query of the customers written since its last run or re-check.

    A re-check is for rolling upgrades: workers of the previous version, still serving after the
    backfill ran, write customers without the new fields (`crm ensure-indexes --recheck` once the last
    of them has stopped). Every write sets `updated_at`, and (is_active, updated_at) is an index.
    """
    marker = db.migrations.find_one({"_id": name})
    if marker is None:
        return {}
    if not recheck:
        return None
    since = (marker.get("checked_at") or marker["at"]) - RECHECK_MARGIN
    return {"is_active": {"$in": [True, False]}, "updated_at": {"$gte": since}}


def finish_migration(db, name, started, changed, scope):
    """Record a backfill's run that started at `started` and updated `changed` customers: as its run over
    every customer (`scope` {}, also when a re-check found it never ran), or as a re-check of a window."""
    if scope:
        update = {"$set": {"checked_at": started, "rechecked_customers": changed}}
    else:
        update = {"$set": {"at": started, "customers": changed}}
    db.migrations.update_one({"_id": name}, update, upsert=True)
