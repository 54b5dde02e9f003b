"""The test double orders null lowest in $max/$min, as MongoDB does, and takes pymongo's bulk updates (conftest)."""
from datetime import UTC, datetime

import mongomock

WHEN = datetime(2026, 1, 2, tzinfo=UTC)


def test_max_over_null_takes_the_value():
    collection = mongomock.MongoClient().db.things
    collection.insert_one({"_id": 1, "at": None})
    collection.update_one({"_id": 1}, {"$max": {"at": WHEN}})
    assert collection.find_one({"_id": 1})["at"].replace(tzinfo=UTC) == WHEN


def test_min_over_null_keeps_null_and_missing_takes_the_value():
    collection = mongomock.MongoClient().db.things
    collection.insert_one({"_id": 1, "at": None})
    collection.update_one({"_id": 1}, {"$min": {"at": WHEN, "other": 5}})
    document = collection.find_one({"_id": 1})
    assert document["at"] is None and document["other"] == 5


def test_max_keeps_the_larger_value():
    collection = mongomock.MongoClient().db.things
    collection.insert_one({"_id": 1, "n": 7})
    collection.update_one({"_id": 1}, {"$max": {"n": 3}})
    assert collection.find_one({"_id": 1})["n"] == 7


def test_a_bulk_of_update_one_applies_each():
    from pymongo import UpdateOne

    collection = mongomock.MongoClient().db.things
    collection.insert_many([{"_id": 1, "n": 1}, {"_id": 2, "n": None}])
    updates = [UpdateOne({"_id": 1}, {"$max": {"n": 5}}), UpdateOne({"_id": 2}, {"$max": {"n": 2}})]
    result = collection.bulk_write(updates, ordered=False)
    assert result.modified_count == 2
    assert [document["n"] for document in collection.find().sort("_id")] == [5, 2]
