"""Customer search by stored word prefixes: the same answers as the regex search it replaced, and its backfill.

The reference is the previous query (each word an anchored regex on the kind-prefixed `search_terms`),
kept here (the same clauses, written as one function): for any customers and any search, both must
find the same customers.
"""
import re

import mongomock
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_service.db import INDEXES, RETIRED_INDEXES, ensure_indexes
from crm_service.repositories.base import PageRequest, prefix_pattern, words
from crm_service.repositories.customers import (
    NOTHING,
    PHONE_LIKE,
    PREFIX_LIMIT,
    PREFIX_MIGRATION,
    CustomerRepository,
    backfill_search_prefixes,
    derived_fields,
    search_prefixes,
)


def reference_query(filters):
    """The regex search as it was before search_prefixes (crm_service/repositories/customers.py, 2b5a6eb)."""
    def by_kinds(kinds, text):
        clauses = [{"search_terms": {"$in": [prefix_pattern(f"{kind}:{word}") for kind in kinds]}}
                   for word in words(text)[:5]]
        return clauses or [NOTHING]

    clauses = []
    if filters.get("q", "").strip():
        text = filters["q"]
        by_words = by_kinds(("n", "e", "p"), text)
        digits = re.sub(r"\D", "", text)
        if not PHONE_LIKE.match(text) or len(digits) < 2 or len(words(text)) < 2:
            clauses += by_words
        else:
            clauses.append({"$or": [{"$and": by_words}, {"search_terms": prefix_pattern("p:" + digits)}]})
    if filters.get("name", "").strip():
        clauses += by_kinds(("n",), filters["name"])
    if filters.get("email", "").strip():
        clauses.append({"search_terms": prefix_pattern("e:" + filters["email"].strip().lower())})
    if filters.get("phone"):
        digits = re.sub(r"\D", "", filters["phone"])
        clauses.append({"search_terms": prefix_pattern("p:" + digits)} if digits else NOTHING)
    return {"$and": clauses} if clauses else {}


def found(collection, query):
    return sorted(str(document["_id"]) for document in collection.find(query, {"_id": 1}))


# Words short and long (past PREFIX_LIMIT), with accents, sharing beginnings; phones in two countries.
word = st.text(alphabet="abcéeøz", min_size=1, max_size=6) | st.sampled_from(
    ["Hassan", "Hassanein", "Zoë", "abcdefghijklmnopqrstu", "abcdefghijklmnopqrsTUV", "O'Brien", "Ng"])
name = st.lists(word, min_size=0, max_size=3).map(" ".join)
email = st.builds(lambda local, domain: f"{local}@{domain}.example",
                  st.lists(st.sampled_from(["omar", "tazi", "hassan", "abcdefghijklmnopqrstu", "zoe", "x1"]),
                           min_size=1, max_size=3).map(".".join),
                  st.sampled_from(["mail", "abcdefghijklmnopqrstuvwxyz", "hassan"]))
phone = st.sampled_from([None, "+212612345678", "+33612345678", "+14155550123"])
customer = st.fixed_dictionaries({"first_name": name, "last_name": name, "email": email, "phone": phone})


@st.composite
def searches(draw, customers):
    """A filter built from a stored customer's text (a beginning of it, any case) or from anything."""
    source = draw(st.sampled_from(customers))
    stored = " ".join(filter(None, [source["first_name"], source["last_name"], source["email"],
                                    source["phone"] or ""]))
    start = draw(st.integers(0, max(0, len(stored) - 1)))
    piece = stored[start:start + draw(st.integers(1, 30))]
    text = draw(st.sampled_from([piece, piece.upper(), piece.lower()]) | st.text(max_size=12)
                | st.sampled_from(["06 12 34 56", "+33 6 12", "hass ben", "(", " ", "omar.tazi", "zoe",
                                   # past the limit: equal for 16 characters, then different at 17 or 20
                                   "abcdefghijklmnopX", "abcdefghijklmnopqrsX", "abcdefghijklmnopq"]))
    kind = draw(st.sampled_from(["q", "name", "email", "phone"]))
    return {kind: text}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(customer, min_size=1, max_size=6), st.data())
def test_a_search_finds_exactly_what_the_regex_search_found(people, data):
    collection = mongomock.MongoClient(tz_aware=True).crm_unit.customers
    repository = CustomerRepository(collection.database)
    for number, person in enumerate(people):
        repository.create({**person, "email": f"{number}{person['email']}", "tags": [], "is_active": True})
    for _ in range(4):
        filters = data.draw(searches(people))
        expected = found(collection, reference_query(filters))
        assert found(collection, repository.build_query(filters)) == expected, filters


@given(st.lists(st.text(min_size=1, max_size=30), max_size=6))
def test_the_prefixes_are_every_beginning_of_every_word_up_to_the_limit(texts):
    terms = [f"{kind}:{text}" for kind, text in zip("nepnep", texts, strict=False)]
    prefixes = search_prefixes(terms)
    expected = {text[:end] for text in texts for end in range(1, min(len(text), PREFIX_LIMIT) + 1)}
    assert prefixes == sorted(expected)


def test_one_word_is_one_top_level_equality_and_kinds_or_long_words_add_a_check():
    repository = CustomerRepository(mongomock.MongoClient().crm_unit)

    assert repository.build_query({"q": "Hassan", "is_active": True}) == {"is_active": True,
                                                                          "search_prefixes": "hassan"}
    assert repository.build_query({"q": "zoë ben"})["search_prefixes"] == {"$all": ["zoe", "ben"]}
    long_word = "abcdefghijklmnopqrstu"
    query = repository.build_query({"q": long_word})
    assert query["search_prefixes"] == long_word[:PREFIX_LIMIT]
    assert [pattern.pattern for pattern in query["$and"][0]["search_terms"]["$in"]] == [
        f"^{kind}:{long_word}" for kind in "nep"]
    query = repository.build_query({"name": "Smith"})
    assert query["search_prefixes"] == "smith"
    assert [pattern.pattern for pattern in query["$and"][0]["search_terms"]["$in"]] == ["^n:smith"]


def test_every_search_prefix_is_what_the_customer_document_stores():
    document = {"first_name": "Zoë", "last_name": "Ng", "email": "zoe.ng@mail.example", "phone": "+33612345678"}
    stored = derived_fields(document)

    assert stored["search_prefixes"] == search_prefixes(stored["search_terms"])
    assert {"z", "zo", "zoe", "n", "ng", "zoe.ng@mail.exam", "@mail.example", "0612", "33612345678"} <= set(
        stored["search_prefixes"])
    assert "zoe.ng@mail.examp" not in stored["search_prefixes"]  # 17 characters: past the limit
    assert all(1 <= len(prefix) <= PREFIX_LIMIT for prefix in stored["search_prefixes"])


@pytest.fixture
def db():
    return mongomock.MongoClient(tz_aware=True).crm_unit


def old_customer(db, first_name, email):
    """A customer as a version before search_prefixes stored it."""
    document = {"first_name": first_name, "last_name": "Old", "email": email, "phone": None, "is_active": True}
    document.update(derived_fields(document))
    del document["search_prefixes"]
    return db.customers.insert_one(document).inserted_id


def searched(db, text):
    page = CustomerRepository(db).list({"q": text, "is_active": True}, [("created_at", -1)], PageRequest(size=50))
    return sorted(document["first_name"] for document in page.items)


def test_backfill_makes_old_customers_searchable_once(db):
    for number in range(5):
        old_customer(db, f"Hassan{number}", f"h{number}@mail.example")
    CustomerRepository(db).create({"first_name": "Hassan", "email": "new@mail.example", "tags": [], "is_active": True})
    assert searched(db, "hass") == ["Hassan"]

    assert backfill_search_prefixes(db, batch=2) == 5

    assert searched(db, "hass") == ["Hassan", "Hassan0", "Hassan1", "Hassan2", "Hassan3", "Hassan4"]
    assert db.migrations.find_one({"_id": PREFIX_MIGRATION})["customers"] == 5
    old_customer(db, "Hassan9", "h9@mail.example")
    assert backfill_search_prefixes(db) == 0  # once per database


def test_backfill_leaves_a_customer_renamed_meanwhile_with_its_own_prefixes(db, monkeypatch):
    oid = old_customer(db, "Hassan", "h@mail.example")
    repository = CustomerRepository(db)
    real_find = db.customers.find

    class ReadThenRenamed:
        """The backfill's read (in the batches it asks for), then a rename by the current code."""

        def __init__(self, *args, **kwargs):
            self.cursor = real_find(*args, **kwargs)

        def batch_size(self, size):
            self.cursor = self.cursor.batch_size(size)
            return self

        def __iter__(self):
            documents = list(self.cursor)
            monkeypatch.setattr(db.customers, "find", real_find)  # mongomock's own writes read through find
            current = next(real_find({"_id": oid}))
            assert repository.update(oid, {"first_name": "Omar"}, current) is not None
            return iter(documents)

    db.customers.update_one({"_id": oid}, {"$set": {"version": 1}})
    monkeypatch.setattr(db.customers, "find", ReadThenRenamed)
    assert backfill_search_prefixes(db) == 0
    monkeypatch.undo()

    assert searched(db, "omar") == ["Omar"]
    assert searched(db, "hass") == []


def test_ensure_indexes_backfills_and_drops_the_retired_indexes(db):
    old_customer(db, "Hassan", "h@mail.example")
    db.customers.create_index([("search_terms", 1), ("is_active", 1)], name="search_terms")
    db.customers.create_index([("activity_at", -1), ("_id", -1)], name="activity")

    ensure_indexes(db)

    names = set(db.customers.index_information())
    assert not names & set(RETIRED_INDEXES["customers"])
    assert names == {"_id_"} | {model.document["name"] for model in INDEXES["customers"]}
    assert searched(db, "hassan") == ["Hassan"]
    ensure_indexes(db)  # again: nothing left to drop, nothing to fill in
    assert set(db.customers.index_information()) == names


def test_backfill_fetches_one_batch_at_a_time_between_its_writes(db, monkeypatch):
    """With the default batches a cursor sat idle through many writes and expired on the dev server."""
    for number in range(7):
        old_customer(db, f"Hassan{number}", f"h{number}@mail.example")
    sizes = []
    real_find = db.customers.find

    def recording_find(*args, **kwargs):
        cursor = real_find(*args, **kwargs)
        real_batch_size = cursor.batch_size

        def batch_size(size):
            sizes.append(size)
            return real_batch_size(size)

        cursor.batch_size = batch_size
        return cursor

    writes = []
    real_bulk_write = db.customers.bulk_write

    def recording_bulk_write(updates, **kwargs):
        writes.append(len(updates))
        return real_bulk_write(updates, **kwargs)

    monkeypatch.setattr(db.customers, "find", recording_find)
    monkeypatch.setattr(db.customers, "bulk_write", recording_bulk_write)
    assert backfill_search_prefixes(db, batch=3) == 7
    monkeypatch.undo()

    assert sizes == [3] and writes == [3, 3, 1]
    assert searched(db, "hassan") == [f"Hassan{number}" for number in range(7)]
