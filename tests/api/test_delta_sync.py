"""Delta sync end to end (SPEC §3): an offline copy kept in step by `updated_since` pages and tombstones.

The client below is the recipe the README gives mobile clients:

1. Pull `GET /sync/deleted?since=<tombstone mark>` (inclusive) and drop each named record whose local
   copy is not newer than the tombstone.
2. Pull each list with `updated_since=<its mark minus OVERLAP>` and upsert what is not older than the
   local copy. `updated_since` means "changed after"; stepping back one millisecond makes it
   inclusive, so a record changed in the very millisecond of the mark is not lost. Repeats are
   recognised by id.
3. Marks move to the largest `updated_at` / `deleted_at` received.

Tombstones come first so that a record restored after its deletion ends up present.
"""
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId

from crm_service.db import ensure_indexes
from crm_service.repositories.base import utcnow
from crm_service.schemas.common import iso_z

API = "/api/v1"
OVERLAP = timedelta(milliseconds=1)
STAFF_LISTS = {"customers": "/customers", "companies": "/companies", "products": "/products", "tickets": "/tickets"}


def parse(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def walk(api, path, **query):
    """Every item of a list, following next_cursor without counting."""
    items, cursor = [], None
    while True:
        page_query = {"size": 100, "count": "false", **query, **({"cursor": cursor} if cursor else {})}
        response = api.get(f"{API}{path}", query_string=page_query)
        assert response.status_code == 200, (path, response.get_json())
        body = response.get_json()
        items += body["items"]
        cursor = body["next_cursor"]
        if not cursor:
            return items


class OfflineCopy:
    def __init__(self, api, lists, started_at):
        self.api = api
        self.lists = lists
        self.records = {entity: {} for entity in lists}
        self.marks = dict.fromkeys(lists)
        self.tombstone_mark = started_at
        self.rounds = 0

    def sync(self):
        for tombstone in walk(self.api, "/sync/deleted", since=iso_z(self.tombstone_mark)):
            self.tombstone_mark = max(self.tombstone_mark, parse(tombstone["deleted_at"]))
            local = self.records.get(tombstone["entity"], {}).get(tombstone["id"])
            if local is not None and parse(local["updated_at"]) <= parse(tombstone["deleted_at"]):
                del self.records[tombstone["entity"]][tombstone["id"]]
        for entity, path in self.lists.items():
            mark = self.marks[entity]
            query = {} if mark is None else {"updated_since": iso_z(mark - OVERLAP)}
            for item in walk(self.api, path, **query):
                local = self.records[entity].get(item["id"])
                if local is None or parse(item["updated_at"]) >= parse(local["updated_at"]):
                    self.records[entity][item["id"]] = item
                changed_at = parse(item["updated_at"])
                self.marks[entity] = changed_at if mark is None else max(self.marks[entity], changed_at)
        self.rounds += 1

    def assert_equals_server(self):
        for entity, path in self.lists.items():
            server = {item["id"]: item for item in walk(self.api, path)}
            assert sorted(self.records[entity]) == sorted(server), entity
            assert self.records[entity] == server, entity


@pytest.fixture(autouse=True)
def _indexes(db):
    ensure_indexes(db)


def ok(response, status=200):
    assert response.status_code == status, response.get_json()
    return response.get_json() if status != 204 else None


def new_customer(api, name, **fields):
    return ok(api.post(f"{API}/customers", json={"first_name": name, "email": f"{ObjectId()}@mail.example",
                                                 **fields}), 201)


def test_an_offline_copy_kept_by_delta_sync_equals_the_server(admin, db):
    copy = OfflineCopy(admin, STAFF_LISTS, utcnow())
    atlas = ok(admin.post(f"{API}/companies", json={"name": "Atlas"}), 201)
    sahara = ok(admin.post(f"{API}/companies", json={"name": "Sahara"}), 201)
    ann = new_customer(admin, "Ann", company_id=atlas["id"])
    bob = new_customer(admin, "Bob", company_id=atlas["id"])
    cat = new_customer(admin, "Cat")
    dan = new_customer(admin, "Dan", company_id=sahara["id"])
    tour = ok(admin.post(f"{API}/products", json={"sku": "TOUR", "name": "Tour", "price": "10"}), 201)
    trek = ok(admin.post(f"{API}/products", json={"sku": "TREK", "name": "Trek", "price": "20"}), 201)
    ann_ticket = ok(admin.post(f"{API}/tickets", json={"customer_id": ann["id"], "subject": "Visa"}), 201)
    dan_ticket = ok(admin.post(f"{API}/tickets", json={"customer_id": dan["id"], "subject": "Refund"}), 201)
    copy.sync()
    copy.assert_equals_server()

    # Round 2: creates, updates, a soft delete, a hard delete.
    eve = new_customer(admin, "Eve")
    ok(admin.patch(f"{API}/customers/{bob['id']}", json={"region": "Souss"}))
    ok(admin.delete(f"{API}/customers/{cat['id']}"), 204)
    ok(admin.delete(f"{API}/products/{tour['id']}"), 204)
    ok(admin.patch(f"{API}/tickets/{ann_ticket['id']}", json={"priority": "high"}))
    ok(admin.post(f"{API}/companies", json={"name": "Oasis"}), 201)
    copy.sync()
    copy.assert_equals_server()

    # Round 3: a restore, a company deleted with its customers detached, an erasure, a ticket deleted.
    ok(admin.patch(f"{API}/products/{trek['id']}", json={"price": "25"}))
    ok(admin.post(f"{API}/customers/{cat['id']}/restore"))
    ok(admin.delete(f"{API}/companies/{atlas['id']}", query_string={"detach": "true"}), 204)
    ok(admin.delete(f"{API}/customers/{dan['id']}", query_string={"erase": "true"}), 204)
    ok(admin.delete(f"{API}/tickets/{ann_ticket['id']}"), 204)
    copy.sync()
    copy.assert_equals_server()

    # Round 4: changes that land in the very millisecond of the client's marks, after it read them
    # (both marks are later than the product's last change, as a real deletion would be).
    customer_mark = copy.marks["customers"]
    ok(admin.patch(f"{API}/customers/{eve['id']}", json={"region": "Draa"}))
    db.customers.update_one({"_id": ObjectId(eve["id"])}, {"$set": {"updated_at": customer_mark}})
    ok(admin.delete(f"{API}/products/{trek['id']}"), 204)
    db.tombstones.update_one({"entity_id": ObjectId(trek["id"])}, {"$set": {"deleted_at": copy.tombstone_mark}})
    copy.sync()
    copy.assert_equals_server()
    assert eve["id"] in copy.records["customers"] and copy.records["customers"][eve["id"]]["region"] == "Draa"

    # Round 5: deleted, restored and deleted again between two syncs; a product that lived and died unseen.
    ok(admin.delete(f"{API}/customers/{eve['id']}"), 204)
    ok(admin.post(f"{API}/customers/{eve['id']}/restore"))
    ok(admin.patch(f"{API}/customers/{ann['id']}", json={"tags": ["vip"]}))
    ok(admin.delete(f"{API}/customers/{eve['id']}"), 204)
    brief = ok(admin.post(f"{API}/products", json={"sku": "GONE", "name": "Gone", "price": "1"}), 201)
    ok(admin.delete(f"{API}/products/{brief['id']}"), 204)
    ok(admin.post(f"{API}/customers/{cat['id']}/restore"))  # already active: nothing changes
    copy.sync()
    copy.assert_equals_server()

    # Round 6: deleted then restored between two syncs: the tombstone must not win over the restore.
    ok(admin.delete(f"{API}/customers/{bob['id']}"), 204)
    ok(admin.post(f"{API}/customers/{bob['id']}/restore"))
    copy.sync()
    copy.assert_equals_server()

    assert copy.rounds == 6
    assert set(copy.records["customers"]) == {ann["id"], bob["id"], cat["id"]}
    assert copy.records["customers"][ann["id"]]["company_id"] is None  # detached when Atlas went
    assert set(copy.records["products"]) == set()
    assert set(copy.records["tickets"]) == {dan_ticket["id"]}  # kept, erased of the person's words
    assert copy.records["tickets"][dan_ticket["id"]]["subject"] != "Refund"


def test_a_customer_users_copy_of_its_tickets_follows_the_server(admin, customer, other_customer):
    copy = OfflineCopy(customer, {"tickets": "/tickets"}, utcnow())
    first = ok(customer.post(f"{API}/tickets", json={"subject": "Visa"}), 201)
    second = ok(customer.post(f"{API}/tickets", json={"subject": "Bus"}), 201)
    theirs = ok(other_customer.post(f"{API}/tickets", json={"subject": "Theirs"}), 201)
    copy.sync()
    copy.assert_equals_server()

    ok(admin.delete(f"{API}/tickets/{first['id']}"), 204)
    ok(admin.delete(f"{API}/tickets/{theirs['id']}"), 204)
    ok(customer.post(f"{API}/tickets/{second['id']}/resolve"))
    third = ok(customer.post(f"{API}/tickets", json={"subject": "Hotel"}), 201)
    copy.sync()
    copy.assert_equals_server()

    assert set(copy.records["tickets"]) == {second["id"], third["id"]}
    assert copy.records["tickets"][second["id"]]["status"] == "resolved"


def test_an_offline_copy_of_the_interaction_feed_follows_deletes_and_erasures(admin):
    copy = OfflineCopy(admin, {"interactions": "/interactions"}, utcnow())
    ann, bob = new_customer(admin, "Ann"), new_customer(admin, "Bob")
    notes = {}
    for person in (ann, bob):
        for number in range(2):
            notes[(person["id"], number)] = ok(admin.post(f"{API}/customers/{person['id']}/interactions",
                                                          json={"type": "note", "notes": f"Note {number}"}), 201)
    copy.sync()
    copy.assert_equals_server()

    ok(admin.patch(f"{API}/customers/{ann['id']}/interactions/{notes[(ann['id'], 0)]['id']}",
                   json={"subject": "Changed"}))
    ok(admin.delete(f"{API}/customers/{ann['id']}/interactions/{notes[(ann['id'], 1)]['id']}"), 204)
    ok(admin.delete(f"{API}/customers/{bob['id']}", query_string={"erase": "true"}), 204)
    copy.sync()
    copy.assert_equals_server()
