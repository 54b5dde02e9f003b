"""List conventions (SPEC §3 Lists) on /customers and /companies: page, size, count, sort ties and cursors."""
import base64
import json

import pytest
from bson import ObjectId

from crm_service.repositories.customers import CustomerRepository
from tests.conftest import assert_error

CUSTOMERS = "/api/v1/customers"
ENVELOPE = {"items", "page", "size", "total", "pages", "next_cursor"}


def seed(db, last_names):
    """Customers straight through the repository (no rate limits); returns their ids in creation order."""
    repository = CustomerRepository(db)
    ids = []
    for last_name in last_names:
        record = repository.create({
            "first_name": "Pat", "last_name": last_name, "email": f"{ObjectId()}@mail.example",
            "contact_type": "individual", "status": "lead", "loyalty_status": "new", "tags": [], "is_active": True,
            "preferred_language": "fr",
        })
        ids.append(str(record["_id"]))
    return ids


def get_page(api, path=CUSTOMERS, **query):
    response = api.get(path, query_string=query)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def walk(api, between=None, **query):
    """Every item id by following next_cursor from the first page; `between(seen)` runs between fetches."""
    body = get_page(api, **query)
    seen = [item["id"] for item in body["items"]]
    while body["next_cursor"]:
        if between:
            between(seen)
        body = get_page(api, **query, cursor=body["next_cursor"])
        assert body["page"] is None and body["pages"] is None
        seen += [item["id"] for item in body["items"]]
    return seen


def stored_order(db, sort):
    return [str(doc["_id"]) for doc in db.customers.find({"is_active": True}, {"_id": 1}).sort(sort)]


# -- page and size --------------------------------------------------------------------------------

def test_list_defaults_to_page_1_of_size_20_with_the_full_envelope(admin, db):
    seed(db, [f"N{i:02}" for i in range(45)])
    body = get_page(admin)
    assert set(body) == ENVELOPE
    assert (body["page"], body["size"], body["total"], body["pages"], len(body["items"])) == (1, 20, 45, 3, 20)
    assert body["next_cursor"]


def test_last_page_is_partial_and_has_no_next_cursor(admin, db):
    seed(db, [f"N{i:02}" for i in range(45)])
    body = get_page(admin, page=3)
    assert (body["page"], body["total"], body["pages"], len(body["items"]), body["next_cursor"]) == (3, 45, 3, 5, None)


def test_a_page_beyond_the_end_is_200_with_no_items(admin, db):
    seed(db, ["A", "B", "C"])
    body = get_page(admin, page=9, size=2)
    assert (body["items"], body["page"], body["total"], body["pages"], body["next_cursor"]) == ([], 9, 3, 2, None)


def test_no_results_is_200_with_total_0_and_pages_0(admin):
    body = get_page(admin, q="nobody")
    assert body == {"items": [], "page": 1, "size": 20, "total": 0, "pages": 0, "next_cursor": None}


def test_pages_in_page_mode_cover_every_record_once_in_sort_order(admin, db):
    seed(db, ["Smith"] * 12 + ["Adams", "Young"] * 3)
    collected = []
    for number in range(1, 5):
        collected += [item["id"] for item in get_page(admin, sort="last_name", size=5, page=number)["items"]]
    assert collected == stored_order(db, [("last_name_key", 1), ("_id", 1)])


def test_size_100_is_allowed(admin, db):
    seed(db, ["A"] * 3)
    assert get_page(admin, size=100)["size"] == 100


@pytest.mark.parametrize(("query", "field"), [
    ({"size": "101"}, "size"), ({"size": "0"}, "size"), ({"size": "-5"}, "size"), ({"size": "ten"}, "size"),
    ({"page": "0"}, "page"), ({"page": "-1"}, "page"), ({"page": "1.5"}, "page"), ({"count": "perhaps"}, "count"),
])
def test_out_of_range_page_size_or_count_is_422(admin, db, query, field):
    body = assert_error(admin.get(CUSTOMERS, query_string=query), 422, "validation_error")
    assert list(body["errors"]) == [field]


def test_count_false_leaves_total_and_pages_null(admin, db):
    seed(db, ["A"] * 25)
    body = get_page(admin, count="false")
    assert (body["total"], body["pages"], body["page"], len(body["items"])) == (None, None, 1, 20)
    assert body["next_cursor"]


def test_company_list_follows_the_same_conventions(admin):
    for number in range(3):
        assert admin.post("/api/v1/companies", json={"name": f"Co {number}"}).status_code == 201
    body = get_page(admin, "/api/v1/companies", size=2)
    assert (body["total"], body["pages"], len(body["items"])) == (3, 2, 2)
    rest = get_page(admin, "/api/v1/companies", size=2, cursor=body["next_cursor"])
    assert [item["name"] for item in body["items"] + rest["items"]] == ["Co 2", "Co 1", "Co 0"]
    assert rest["next_cursor"] is None


# -- cursor mode ----------------------------------------------------------------------------------

def test_cursor_pages_have_null_page_and_pages_but_a_total(admin, db):
    seed(db, ["A"] * 5)
    first = get_page(admin, size=2)
    second = get_page(admin, size=2, cursor=first["next_cursor"])
    assert (second["page"], second["pages"], second["total"], second["size"]) == (None, None, 5, 2)
    assert get_page(admin, size=2, count="false", cursor=first["next_cursor"])["total"] is None


def test_cursor_walk_visits_every_record_once_in_sort_order(admin, db):
    seed(db, [f"N{i}" for i in range(23)])
    assert walk(admin, size=5) == stored_order(db, [("created_at", -1), ("_id", -1)])


def test_newest_first_cursor_walk_never_repeats_or_skips_while_customers_are_added(admin, db):
    original = seed(db, [f"N{i}" for i in range(25)])
    seen = walk(admin, between=lambda _: seed(db, ["New"] * 3), size=10)
    # Newer records sort before the position already reached, so the walk shows exactly the original set.
    assert seen == original[::-1]


def test_page_numbers_would_repeat_records_when_customers_are_added_which_cursors_avoid(admin, db):
    seed(db, [f"N{i}" for i in range(20)])
    first = get_page(admin, size=10)
    seed(db, ["New"] * 3)
    second_by_number = get_page(admin, size=10, page=2)
    second_by_cursor = get_page(admin, size=10, cursor=first["next_cursor"])
    first_ids = {item["id"] for item in first["items"]}
    assert first_ids & {item["id"] for item in second_by_number["items"]}
    assert not first_ids & {item["id"] for item in second_by_cursor["items"]}


@pytest.mark.parametrize("sort", ["last_name", "-last_name"])
def test_last_name_cursor_walk_never_repeats_or_skips_while_customers_are_added(admin, db, sort):
    """New names land on both sides of the position reached: every original record appears exactly once and in
    order; a new record appears exactly when it sorts after the position reached when it was added."""
    original = seed(db, [chr(ord("B") + i % 20) + f"name{i}" for i in range(40)] + [None] * 4)
    added = []  # (new id, id of the last record seen when it was added)

    def add_on_both_sides(seen):
        names = ["Aaron", "Zed", None, f"{chr(ord('B') + len(seen) % 20)}mid"]
        added.extend((record_id, seen[-1]) for record_id in seed(db, names))

    seen = walk(admin, between=add_on_both_sides, sort=sort, size=7)
    direction = -1 if sort.startswith("-") else 1
    order = stored_order(db, [("last_name_key", direction), ("_id", direction)])
    assert len(seen) == len(set(seen))
    assert [record_id for record_id in seen if record_id in set(original)] == [
        record_id for record_id in order if record_id in set(original)]
    expected_new = {record_id for record_id, position in added if order.index(record_id) > order.index(position)}
    assert {record_id for record_id, _ in added} & set(seen) == expected_new
    assert expected_new and len(expected_new) < len(added)
    assert seen == [record_id for record_id in order if record_id in set(seen)]


def test_ties_on_the_sort_field_are_broken_by_id_across_cursor_pages(admin, db):
    ids = seed(db, ["Smith"] * 17 + ["Jones"] * 4)
    seen = walk(admin, sort="last_name", size=4)
    assert seen == ids[17:] + ids[:17]
    assert walk(admin, sort="-last_name", size=4) == ids[:17][::-1] + ids[17:][::-1]


def test_customers_without_a_last_name_are_neither_skipped_nor_repeated(admin, db):
    ids = seed(db, [None, "Alami", None, "Zed", None, None, "Benali"])
    assert walk(admin, sort="last_name", size=2) == [ids[0], ids[2], ids[4], ids[5], ids[1], ids[6], ids[3]]
    assert walk(admin, sort="-last_name", size=2) == [ids[3], ids[6], ids[1], ids[5], ids[4], ids[2], ids[0]]


def test_next_cursor_is_null_on_the_last_cursor_page(admin, db):
    seed(db, ["A"] * 4)
    first = get_page(admin, size=3)
    assert get_page(admin, size=3, cursor=first["next_cursor"])["next_cursor"] is None


def forged(payload):
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize("cursor", [
    "garbage", "!!!!", "e30", forged([1, 2]), forged({"s": "-created_at,-_id"}),
    forged({"s": "-created_at,-_id", "v": ["x", "y"]}),
    forged({"s": "-created_at,-_id", "v": [{"d": "2024-01-01T00:00:00+00:00"}, {"o": "zz"}]}),
    forged({"s": "-created_at,-_id", "v": [{"d": "not a date"}, {"o": str(ObjectId())}]}),
    forged({"s": "-created_at,-_id", "v": [{"$gt": ""}, {"o": str(ObjectId())}]}),
    forged({"s": "-created_at,-_id", "v": [10 ** 30, {"o": str(ObjectId())}]}),
    forged({"s": "-created_at,-_id", "v": [{"d": "2024-01-01T00:00:00+00:00"}]}),
    "W" * 2000, base64.urlsafe_b64encode(b"[" * 1400).decode(),
])
def test_a_forged_or_garbage_cursor_is_422(admin, db, cursor):
    seed(db, ["A"] * 3)
    assert list(assert_error(admin.get(CUSTOMERS, query_string={"cursor": cursor}), 422)["errors"]) == ["cursor"]


def test_a_cursor_from_another_sort_is_422(admin, db):
    seed(db, ["A", "B", "C"])
    cursor = get_page(admin, sort="last_name", size=1)["next_cursor"]
    response = admin.get(CUSTOMERS, query_string={"cursor": cursor, "sort": "-last_name"})
    assert list(assert_error(response, 422)["errors"]) == ["cursor"]
    assert_error(admin.get(CUSTOMERS, query_string={"cursor": cursor}), 422)


def test_page_and_cursor_together_is_422(admin, db):
    seed(db, ["A", "B", "C"])
    cursor = get_page(admin, size=1)["next_cursor"]
    response = admin.get(CUSTOMERS, query_string={"cursor": cursor, "page": "2"})
    assert list(assert_error(response, 422)["errors"]) == ["cursor"]
