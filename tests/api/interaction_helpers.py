"""Helpers shared by the interaction tests: customers, logging interactions, times, walking pages."""
import itertools
from datetime import UTC, datetime, timedelta

from bson import ObjectId

from crm_service.repositories.customers import CustomerRepository
from crm_service.schemas.common import iso_z

_emails = itertools.count(1)
BASE = "/api/v1"


def new_customer(db, **fields):
    """A customer record (set up through the repository: customers are not under test here); its id."""
    body = {"first_name": "Ada", "last_name": "Lovelace", "email": f"person{next(_emails)}@example.org",
            "status": "lead", "contact_type": "individual", "loyalty_status": "new", "tags": [],
            "is_active": True, "preferred_language": "fr", **fields}
    CustomerRepository(db).create(body)
    return str(db.customers.find_one({"email": body["email"]}, {"_id": 1})["_id"])


def history_url(customer_id):
    return f"{BASE}/customers/{customer_id}/interactions"


def item_url(customer_id, interaction_id):
    return f"{BASE}/customers/{customer_id}/interactions/{interaction_id}"


def log(api, customer_id, **fields):
    """Log one interaction (a note by default) and return the created record."""
    body = {"type": "note", "notes": "Spoke about the offer", **fields}
    response = api.post(history_url(customer_id), json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def now():
    return datetime.now(UTC)


def stamp(value):
    """A datetime as the API writes it (UTC, milliseconds, Z)."""
    return iso_z(value)


def ago(**delta):
    return stamp(now() - timedelta(**delta))


def ahead(**delta):
    return stamp(now() + timedelta(**delta))


def parse_time(value):
    """An API time string as an aware datetime, to compare with what the database holds."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def all_pages(api, url, **params):
    """Every item of a list in page mode, asserting the envelope of each page."""
    items, page = [], 1
    while True:
        response = api.get(url, query_string={**params, "page": page})
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert body["page"] == page
        items += body["items"]
        if body["pages"] is not None and page >= body["pages"]:
            assert body["next_cursor"] is None
            return items, body
        if not body["items"]:
            return items, body
        page += 1


def all_cursor_pages(api, url, **params):
    """Every item of a list in cursor mode, following next_cursor to the end."""
    items, cursor, pages = [], None, 0
    while True:
        query = dict(params)
        if cursor:
            query["cursor"] = cursor
        response = api.get(url, query_string=query)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        if cursor:
            assert body["page"] is None and body["pages"] is None
        items += body["items"]
        pages += 1
        assert pages < 200, "cursor paging does not end"
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def ids(items):
    return [item["id"] for item in items]


def stored_customer(db, customer_id):
    return db.customers.find_one({"_id": ObjectId(customer_id)})


def expected_order(rows, newest_first=True):
    """Ids sorted as the API sorts them: by occurred_at, ties by id."""
    ordered = sorted(rows, key=lambda row: (row["occurred_at"], row["id"]), reverse=newest_first)
    return [str(row["id"]) for row in ordered]


def every_interaction(db):
    """Every interaction in the database (embedded and archived), each once, with its customer_id."""
    rows = {}
    for document in db.customers.find({}, {"interactions": 1}):
        for item in document.get("interactions", []):
            rows[item["id"]] = {**item, "customer_id": document["_id"]}
    for item in db.interaction_archive.find({}, {"_id": 0}):
        rows.setdefault(item["id"], item)
    return list(rows.values())
