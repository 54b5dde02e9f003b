"""repositories/base.py: keyset filters, cursors, paged finds and search helpers, against a mongomock collection."""
import base64
import json
from datetime import UTC, datetime, timedelta

import mongomock
import pytest
from bson import ObjectId

from crm_service.errors import ApiError
from crm_service.repositories.base import (
    Page,
    PageRequest,
    decode_cursor,
    encode_cursor,
    find_page,
    fold,
    keyset_filter,
    prefix_pattern,
    with_tiebreak,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def collection():
    """Documents with strings, nulls and missing values in `name`, and duplicate times in `at`."""
    docs = mongomock.MongoClient(tz_aware=True).db.people
    names = ["bob", None, "alice", "bob", None, "carol", "alice", None, "bob", "dave", "alice"]
    for index, name in enumerate(names):
        document = {"_id": ObjectId(), "at": T0 + timedelta(hours=index % 3)}
        if name is not None or index % 2:  # some nulls are stored, some are missing
            document["name"] = name
        docs.insert_one(document)
    return docs


def python_order(documents, sort):
    """MongoDB's order, computed independently: null and missing sort lowest."""
    ordered = list(documents)
    for field, direction in reversed(sort):
        ordered.sort(key=lambda doc, field=field: (doc.get(field) is not None, doc.get(field) or ""),
                     reverse=direction < 0)
    return ordered


SORTS = [
    [("name", 1), ("_id", 1)],
    [("name", -1), ("_id", -1)],
    [("name", 1), ("_id", -1)],
    [("name", -1), ("_id", 1)],
    [("at", -1), ("name", 1), ("_id", 1)],
    [("at", 1), ("name", -1), ("_id", -1)],
]


@pytest.mark.parametrize("sort", SORTS)
def test_keyset_filter_selects_exactly_the_records_after_each_position(collection, sort):
    ordered = python_order(collection.find(), sort)
    assert [doc["_id"] for doc in collection.find().sort(sort)] == [doc["_id"] for doc in ordered]
    for index, position in enumerate(ordered):
        values = decode_cursor(encode_cursor(sort, position), sort)
        after = collection.find(keyset_filter(sort, values)).sort(sort)
        assert [doc["_id"] for doc in after] == [doc["_id"] for doc in ordered[index + 1:]], (sort, position)


@pytest.mark.parametrize("sort", SORTS)
def test_cursor_walk_with_nulls_visits_every_record_once(collection, sort):
    seen, cursor = [], None
    while True:
        page = find_page(collection, {}, sort, PageRequest(size=2, cursor=cursor))
        seen += [doc["_id"] for doc in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [doc["_id"] for doc in python_order(collection.find(), with_tiebreak(sort))]


def test_keyset_filter_after_a_null_ascending_keeps_later_nulls_and_all_values(collection):
    sort = [("name", 1), ("_id", 1)]
    nulls = [doc for doc in python_order(collection.find(), sort) if doc.get("name") is None]
    query = keyset_filter(sort, [None, nulls[0]["_id"]])
    remaining = list(collection.find(query))
    assert {doc["_id"] for doc in nulls[1:]} <= {doc["_id"] for doc in remaining}
    assert len(remaining) == collection.count_documents({}) - 1


def test_keyset_filter_after_the_last_null_descending_matches_nothing(collection):
    sort = [("name", -1), ("_id", -1)]
    last = python_order(collection.find(), sort)[-1]
    assert last.get("name") is None
    assert list(collection.find(keyset_filter(sort, [None, last["_id"]]))) == []


def test_cursor_round_trips_times_ids_strings_numbers_and_nulls():
    oid = ObjectId()
    sort = [("at", -1), ("name", 1), ("rank", 1), ("gone", 1), ("_id", 1)]
    document = {"at": T0, "name": "Zoë", "rank": 3, "_id": oid}
    assert decode_cursor(encode_cursor(sort, document), sort) == [T0, "Zoë", 3, None, oid]


def test_cursor_reads_nested_fields():
    sort = [("address.city", 1), ("_id", 1)]
    oid = ObjectId()
    assert decode_cursor(encode_cursor(sort, {"address": {"city": "Rabat"}, "_id": oid}), sort) == ["Rabat", oid]


def test_cursor_time_without_an_offset_is_read_as_utc():
    sort = [("created_at", -1), ("_id", -1)]
    raw = json.dumps({"s": "-created_at,-_id", "v": [{"d": "2024-01-01T00:00:00"}, {"o": str(ObjectId())}]})
    cursor = base64.urlsafe_b64encode(raw.encode()).decode()
    assert decode_cursor(cursor, sort)[0] == T0


def assert_rejected(cursor, sort):
    with pytest.raises(ApiError) as caught:
        decode_cursor(cursor, sort)
    assert (caught.value.status, list(caught.value.errors)) == (422, ["cursor"])


def test_cursor_from_another_sort_is_rejected():
    cursor = encode_cursor([("name", 1), ("_id", 1)], {"name": "a", "_id": ObjectId()})
    assert_rejected(cursor, [("name", -1), ("_id", -1)])
    assert_rejected(cursor, [("other", 1), ("_id", 1)])


def forged(values, label="-created_at,-_id"):
    return base64.urlsafe_b64encode(json.dumps({"s": label, "v": values}).encode()).decode()


@pytest.mark.parametrize("cursor", [
    "", "not base64 at all", "AAAA", base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    forged([{"d": "2024-01-01T00:00:00+00:00"}, "plain string id"]),
    forged([{"d": "2024-01-01T00:00:00+00:00"}, {"o": "not-an-object-id"}]),
    forged(["2024-01-01", {"o": str(ObjectId())}]),
    forged([{"d": 12}, {"o": str(ObjectId())}]),
    forged([{"$ne": None}, {"o": str(ObjectId())}]),
    forged([[1], {"o": str(ObjectId())}]),
    forged([2 ** 64, {"o": str(ObjectId())}]),
    forged([{"d": "2024-01-01T00:00:00+00:00"}, {"o": str(ObjectId())}, 1]),
    forged({"a": 1}),
])
def test_garbage_and_forged_cursors_are_rejected(cursor):
    assert_rejected(cursor, [("created_at", -1), ("_id", -1)])


def test_with_tiebreak_adds_id_in_the_last_fields_direction_once():
    assert with_tiebreak([("name", -1)]) == [("name", -1), ("_id", -1)]
    assert with_tiebreak([("at", -1), ("name", 1)]) == [("at", -1), ("name", 1), ("_id", 1)]
    assert with_tiebreak([("name", 1), ("_id", -1)]) == [("name", 1), ("_id", -1)]


def test_find_page_counts_pages_and_cuts_the_last_one(collection):
    page = find_page(collection, {}, [("name", 1)], PageRequest(page=3, size=4))
    assert (len(page.items), page.page, page.total, page.pages, page.next_cursor) == (3, 3, 11, 3, None)


def test_find_page_without_counting_has_no_total_but_a_next_cursor(collection):
    page = find_page(collection, {}, [("name", 1)], PageRequest(size=4, count=False))
    assert (len(page.items), page.total, page.pages) == (4, None, None)
    assert page.next_cursor is not None


def test_find_page_in_cursor_mode_has_no_page_number_but_counts_the_whole_query(collection):
    first = find_page(collection, {"name": "bob"}, [("name", 1)], PageRequest(size=2))
    second = find_page(collection, {"name": "bob"}, [("name", 1)], PageRequest(size=2, cursor=first.next_cursor))
    assert (len(second.items), second.page, second.pages, second.total, second.next_cursor) == (1, None, None, 3, None)


@pytest.mark.parametrize(("total", "size", "pages"), [(0, 20, 0), (1, 20, 1), (20, 20, 1), (21, 20, 2), (45, 20, 3)])
def test_pages_is_total_divided_by_size_rounded_up(total, size, pages):
    assert Page(items=[], page=1, size=size, total=total, next_cursor=None).pages == pages


def test_prefix_pattern_escapes_regex_and_folds_accents():
    pattern = prefix_pattern("Zoë.*(")
    assert pattern.match("zoe.*(x")
    assert not pattern.match("zoeabc")
    assert fold("ÉLODIE Zoë") == "elodie zoe"


def test_prefix_pattern_caps_the_search_length():
    assert prefix_pattern("a" * 500).pattern == "^" + "a" * 100
