"""Feed, upcoming meetings, follow-ups and time round trips over real TCP/BSON."""
from datetime import UTC, datetime, timedelta, timezone

import pytest
from bson import ObjectId

from tests.conftest import Api, login, register


def iso(moment):
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ids_of(response):
    assert response.status_code == 200, response.get_json()
    return [item["id"] for item in response.get_json()["items"]]


@pytest.fixture
def now():
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def timeline(admin, now):
    """Two customers with past interactions, follow-ups and meetings; returns the created records by name."""
    records = {}
    for name, email in (("zoe", "zoe@mail.example"), ("omar", "omar@mail.example")):
        response = admin.post("/api/v1/customers", json={"first_name": name.title(), "email": email})
        assert response.status_code == 201, response.get_json()
        records[name] = response.get_json()

    def add(key, customer, path, body):
        response = admin.post(f"/api/v1/customers/{records[customer]['id']}/{path}", json=body)
        assert response.status_code == 201, response.get_json()
        records[key] = response.get_json()

    add("call", "zoe", "interactions", {
        "type": "phone", "notes": "Asked for a quote", "occurred_at": iso(now - timedelta(days=3)),
        "follow_up_required": True, "follow_up_date": iso(now + timedelta(days=2)),
    })
    add("mail", "omar", "interactions", {
        "type": "email", "notes": "Sent the invoice", "occurred_at": iso(now - timedelta(days=1)),
        "follow_up_required": True, "follow_up_date": iso(now + timedelta(days=1)),
    })
    add("chat", "omar", "interactions",
        {"type": "chat", "notes": "Small talk", "occurred_at": iso(now - timedelta(days=2))})
    add("meeting_soon", "zoe", "meetings", {"scheduled_at": iso(now + timedelta(days=3)), "subject": "Tour"})
    add("meeting_later", "omar", "meetings", {"scheduled_at": iso(now + timedelta(days=40)), "subject": "Renewal"})
    return records


def test_feed_lists_every_customers_interactions_newest_first(admin, timeline):
    response = admin.get("/api/v1/interactions")

    assert ids_of(response) == [timeline[key]["id"] for key in
                                ("meeting_later", "meeting_soon", "mail", "chat", "call")]
    assert response.get_json()["total"] == 5


def test_feed_filters_by_customer_and_type(admin, timeline):
    omar = timeline["omar"]["id"]

    assert ids_of(admin.get("/api/v1/interactions", query_string={"customer_id": omar})) == [
        timeline["meeting_later"]["id"], timeline["mail"]["id"], timeline["chat"]["id"]]
    assert ids_of(admin.get("/api/v1/interactions", query_string={"type": "phone"})) == [timeline["call"]["id"]]


def test_upcoming_lists_scheduled_meetings_of_the_next_30_days(admin, timeline):
    response = admin.get("/api/v1/interactions/upcoming")

    assert ids_of(response) == [timeline["meeting_soon"]["id"]]
    item = response.get_json()["items"][0]
    assert (item["type"], item["status"], item["customer_id"]) == ("meeting", "scheduled", timeline["zoe"]["id"])


def test_upcoming_with_a_wider_window_is_soonest_first(admin, timeline, now):
    response = admin.get("/api/v1/interactions/upcoming", query_string={"to": iso(now + timedelta(days=60))})

    assert ids_of(response) == [timeline["meeting_soon"]["id"], timeline["meeting_later"]["id"]]


def test_follow_ups_are_oldest_due_first(admin, timeline):
    response = admin.get("/api/v1/interactions/follow-ups")

    assert ids_of(response) == [timeline["mail"]["id"], timeline["call"]["id"]]
    assert response.get_json()["total"] == 2


def test_follow_up_marked_done_leaves_the_list(admin, timeline, db):
    path = f"/api/v1/customers/{timeline['omar']['id']}/interactions/{timeline['mail']['id']}"

    assert admin.patch(path, json={"follow_up_required": False}).status_code == 200

    assert ids_of(admin.get("/api/v1/interactions/follow-ups")) == [timeline["call"]["id"]]
    stored = db.customers.find_one({"interactions.id": ObjectId(timeline["mail"]["id"])},
                                   {"interactions.$": 1})
    assert stored["interactions"][0]["follow_up_required"] is False


def test_customer_user_sees_only_its_own_interactions_without_staff_fields(admin, client):
    registered = register(client, "ines9")
    customer_id = registered["customer"]["id"]
    for notes in ("Visible to the customer", "Another"):
        response = admin.post(f"/api/v1/customers/{customer_id}/interactions",
                              json={"type": "note", "notes": notes, "employee_comment": "Staff only"})
        assert response.status_code == 201, response.get_json()
    other = admin.post("/api/v1/customers", json={"first_name": "Other", "email": "other@mail.example"}).get_json()
    assert admin.post(f"/api/v1/customers/{other['id']}/interactions",
                      json={"type": "note", "notes": "Not yours"}).status_code == 201
    own = Api(client, login(client, "ines9")["access_token"])

    items = own.get("/api/v1/interactions", query_string={"customer_id": other["id"]}).get_json()["items"]

    assert [item["notes"] for item in items] == ["Another", "Visible to the customer"]
    assert all("employee_comment" not in item for item in items)


def test_times_round_trip_in_utc_with_milliseconds_and_z(admin, timeline, db):
    customer_id = timeline["zoe"]["id"]
    body = {"type": "in_person", "notes": "Visit", "occurred_at": "2025-03-04T05:06:07.123456+02:00",
            "follow_up_required": True, "follow_up_date": "2025-03-10"}

    created = admin.post(f"/api/v1/customers/{customer_id}/interactions", json=body).get_json()

    expected = datetime(2025, 3, 4, 3, 6, 7, 123000, tzinfo=UTC)
    assert created["occurred_at"] == "2025-03-04T03:06:07.123Z"
    assert created["follow_up_date"] == "2025-03-10T00:00:00.000Z"
    read = admin.get(f"/api/v1/customers/{customer_id}/interactions/{created['id']}").get_json()
    assert (read["occurred_at"], read["follow_up_date"]) == (created["occurred_at"], created["follow_up_date"])
    assert read["created_at"] == created["created_at"]
    stored = db.customers.find_one({"interactions.id": ObjectId(created["id"])}, {"interactions.$": 1})
    occurred_at = stored["interactions"][0]["occurred_at"]
    assert occurred_at == expected and occurred_at.utcoffset() == timedelta(0)


def test_time_filters_take_offsets_and_compare_in_utc(admin, timeline, now):
    # `from` 1.5 days ago, written in +02:00, keeps the mail (1 day ago) and drops the chat (2 days ago).
    start = (now - timedelta(hours=36)).astimezone(timezone(timedelta(hours=2)))
    query = {"from": start.isoformat(), "to": iso(now)}

    assert ids_of(admin.get("/api/v1/interactions", query_string=query)) == [timeline["mail"]["id"]]
