"""POST /customers/{id}/meetings, GET /interactions/upcoming and GET /interactions/follow-ups."""
from datetime import timedelta

import pytest
from bson import ObjectId

from tests.api.interaction_helpers import (
    BASE,
    ago,
    ahead,
    all_cursor_pages,
    ids,
    item_url,
    log,
    new_customer,
    now,
    stamp,
    stored_customer,
)
from tests.conftest import Api, assert_error, login, make_staff

UPCOMING = f"{BASE}/interactions/upcoming"
FOLLOW_UPS = f"{BASE}/interactions/follow-ups"


def meetings_url(customer_id):
    return f"{BASE}/customers/{customer_id}/meetings"


def schedule(api, customer_id, **fields):
    body = {"scheduled_at": ahead(days=2), "subject": "Kick-off", **fields}
    response = api.post(meetings_url(customer_id), json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_scheduling_a_meeting_answers_201_with_a_scheduled_meeting(sales, db):
    customer_id = new_customer(db)
    when = ahead(days=3)
    body = {"scheduled_at": when, "duration_minutes": 45, "subject": "Demo", "notes": "Bring slides",
            "location": "Casablanca office"}
    response = sales.post(meetings_url(customer_id), json=body)
    assert response.status_code == 201
    meeting = response.get_json()
    assert response.headers["Location"].endswith(item_url(customer_id, meeting["id"]))
    assert meeting["type"] == "meeting" and meeting["status"] == "scheduled"
    assert meeting["occurred_at"] == when and meeting["duration_minutes"] == 45
    assert meeting["subject"] == "Demo" and meeting["notes"] == "Bring slides"
    assert meeting["location"] == "Casablanca office" and meeting["employee_id"] == sales.user["id"]
    assert sales.get(item_url(customer_id, meeting["id"])).get_json() == meeting
    assert stored_customer(db, customer_id)["interactions"][0]["status"] == "scheduled"


def test_a_scheduled_meeting_does_not_touch_last_interaction_at(sales, db):
    customer_id = new_customer(db)
    schedule(sales, customer_id)
    assert stored_customer(db, customer_id)["last_interaction_at"] is None


def test_meeting_duration_defaults_to_30_minutes(sales, db):
    assert schedule(sales, new_customer(db))["duration_minutes"] == 30


@pytest.mark.parametrize("body, field", [
    ({"subject": "No time"}, "scheduled_at"),
    ({"scheduled_at": "2030-01-01T10:00:00Z"}, "subject"),
    ({"scheduled_at": "next week", "subject": "x"}, "scheduled_at"),
    ({"scheduled_at": "2030-01-01T10:00:00Z", "subject": "x", "duration_minutes": 0}, "duration_minutes"),
    ({"scheduled_at": "2030-01-01T10:00:00Z", "subject": "x", "type": "phone"}, "type"),
    ({"scheduled_at": "2030-01-01T10:00:00Z", "subject": "x", "location": "l" * 256}, "location"),
])
def test_an_invalid_meeting_is_422_and_stores_nothing(sales, db, body, field):
    customer_id = new_customer(db)
    response = sales.post(meetings_url(customer_id), json=body)
    assert field in assert_error(response, 422, "validation_error")["errors"]
    assert stored_customer(db, customer_id)["interactions"] == []


def test_scheduling_for_an_unknown_customer_is_404(sales):
    response = sales.post(meetings_url(str(ObjectId())), json={"scheduled_at": ahead(days=1), "subject": "x"})
    assert_error(response, 404, "not_found")


def test_upcoming_lists_scheduled_meetings_of_the_next_30_days_soonest_first(sales, db):
    first, second = new_customer(db), new_customer(db)
    in_ten_days = schedule(sales, first, scheduled_at=ahead(days=10))
    tomorrow = schedule(sales, second, scheduled_at=ahead(days=1))
    schedule(sales, first, scheduled_at=ahead(days=40))
    log(sales, first, type="meeting", occurred_at=ago(days=1))  # held yesterday: completed
    log(sales, first, type="meeting", occurred_at=ahead(days=5), status="cancelled")
    log(sales, second, type="phone", occurred_at=ahead(days=2))  # not a meeting
    response = sales.get(UPCOMING)
    assert response.status_code == 200
    body = response.get_json()
    assert ids(body["items"]) == [tomorrow["id"], in_ten_days["id"]]
    assert (body["total"], body["page"], body["pages"], body["next_cursor"]) == (2, 1, 1, None)


def test_upcoming_from_and_to_select_another_window(sales, db):
    customer_id = new_customer(db)
    schedule(sales, customer_id, scheduled_at=ahead(days=10))
    far = schedule(sales, customer_id, scheduled_at=ahead(days=40))
    start, end = (now() + timedelta(days=35)).date(), (now() + timedelta(days=45)).date()
    response = sales.get(UPCOMING, query_string={"from": start.isoformat(), "to": end.isoformat()})
    assert response.status_code == 200
    assert ids(response.get_json()["items"]) == [far["id"]]


def test_upcoming_from_alone_looks_30_days_ahead_of_it(sales, db):
    customer_id = new_customer(db)
    near = schedule(sales, customer_id, scheduled_at=ahead(days=40))
    schedule(sales, customer_id, scheduled_at=ahead(days=80))
    response = sales.get(UPCOMING, query_string={"from": ahead(days=35)})
    assert ids(response.get_json()["items"]) == [near["id"]]


def test_upcoming_filters_by_employee_and_customer(app, client, sales, db):
    colleague = make_staff(app, "sales")
    colleague_api = Api(client, login(client, colleague["username"])["access_token"])
    first, second = new_customer(db), new_customer(db)
    mine = schedule(sales, first)
    theirs = schedule(colleague_api, first)
    other_customer = schedule(sales, second)
    by_employee = sales.get(UPCOMING, query_string={"employee_id": str(colleague["_id"])}).get_json()
    assert ids(by_employee["items"]) == [theirs["id"]]
    by_customer = sales.get(UPCOMING, query_string={"customer_id": second}).get_json()
    assert ids(by_customer["items"]) == [other_customer["id"]]
    both = sales.get(UPCOMING, query_string={"customer_id": first, "employee_id": sales.user["id"]}).get_json()
    assert ids(both["items"]) == [mine["id"]]


def test_upcoming_cursor_pages_walk_every_meeting_once_in_order(sales, db):
    customers = [new_customer(db) for _ in range(3)]
    made = [schedule(sales, customers[n % 3], scheduled_at=ahead(days=1 + n % 4, hours=n)) for n in range(9)]
    expected = [meeting["id"] for meeting in sorted(made, key=lambda m: (m["occurred_at"], m["id"]))]
    assert ids(all_cursor_pages(sales, UPCOMING, size=2)) == expected


@pytest.mark.parametrize("params, field", [
    ({"sort": "-occurred_at"}, "sort"), ({"sort": "created_at"}, "sort"), ({"from": "soon"}, "from"),
    ({"to": "2024-02-30"}, "to"), ({"customer_id": "nope"}, "customer_id"), ({"colour": "red"}, "colour"),
    ({"size": 101}, "size"),
])
def test_upcoming_rejects_invalid_query_parameters(sales, params, field):
    response = sales.get(UPCOMING, query_string=params)
    assert field in assert_error(response, 422, "validation_error")["errors"]


def test_follow_ups_lists_open_follow_ups_oldest_due_first(sales, db):
    first, second = new_customer(db), new_customer(db)
    later = log(sales, first, follow_up_required=True, follow_up_date=ahead(days=5))
    overdue = log(sales, second, follow_up_required=True, follow_up_date=ago(days=2))
    soon = log(sales, first, follow_up_required=True, follow_up_date=ahead(days=1))
    done = log(sales, second, follow_up_required=True, follow_up_date=ago(days=9))
    sales.patch(item_url(second, done["id"]), json={"follow_up_required": False})
    log(sales, first)  # no follow-up at all
    body = sales.get(FOLLOW_UPS).get_json()
    assert ids(body["items"]) == [overdue["id"], soon["id"], later["id"]]
    assert body["total"] == 3


def test_follow_ups_due_before_filters_by_due_date(sales, db):
    customer_id = new_customer(db)
    overdue = log(sales, customer_id, follow_up_required=True, follow_up_date=ago(days=2))
    log(sales, customer_id, follow_up_required=True, follow_up_date=ahead(days=5))
    response = sales.get(FOLLOW_UPS, query_string={"due_before": stamp(now())})
    assert ids(response.get_json()["items"]) == [overdue["id"]]


def test_follow_ups_due_before_accepts_a_plain_date(sales, db):
    customer_id = new_customer(db)
    early = log(sales, customer_id, follow_up_required=True, follow_up_date="2024-03-04T23:59:00Z")
    log(sales, customer_id, follow_up_required=True, follow_up_date="2024-03-05T00:00:00Z")
    response = sales.get(FOLLOW_UPS, query_string={"due_before": "2024-03-05"})
    assert ids(response.get_json()["items"]) == [early["id"]]


def test_follow_ups_filter_by_employee_and_customer(app, sales, db):
    colleague = make_staff(app, "sales")
    first, second = new_customer(db), new_customer(db)
    mine = log(sales, first, follow_up_date=ahead(days=1))
    theirs = log(sales, first, follow_up_date=ahead(days=2), employee_id=str(colleague["_id"]))
    elsewhere = log(sales, second, follow_up_date=ahead(days=3))
    by_employee = sales.get(FOLLOW_UPS, query_string={"employee_id": str(colleague["_id"])}).get_json()
    assert ids(by_employee["items"]) == [theirs["id"]]
    by_customer = sales.get(FOLLOW_UPS, query_string={"customer_id": second}).get_json()
    assert ids(by_customer["items"]) == [elsewhere["id"]]
    mine_only = sales.get(FOLLOW_UPS, query_string={"employee_id": sales.user["id"], "customer_id": first})
    assert ids(mine_only.get_json()["items"]) == [mine["id"]]


def test_follow_ups_page_and_cursor_modes_agree(sales, db):
    customers = [new_customer(db) for _ in range(3)]
    made = [log(sales, customers[n % 3], follow_up_date=ahead(days=n % 4, hours=n)) for n in range(8)]
    expected = [item["id"] for item in sorted(made, key=lambda m: (m["follow_up_date"], m["id"]))]
    assert ids(all_cursor_pages(sales, FOLLOW_UPS, size=3)) == expected
    pages = [sales.get(FOLLOW_UPS, query_string={"size": 3, "page": n}).get_json() for n in (1, 2, 3)]
    assert [item["id"] for page in pages for item in page["items"]] == expected
    assert [page["pages"] for page in pages] == [3, 3, 3] and pages[2]["next_cursor"] is None


def test_follow_ups_without_count_have_no_total(sales, db):
    log(sales, new_customer(db), follow_up_date=ahead(days=1))
    body = sales.get(FOLLOW_UPS, query_string={"count": "false"}).get_json()
    assert (body["total"], body["pages"], len(body["items"])) == (None, None, 1)


@pytest.mark.parametrize("params, field", [
    ({"due_before": "tomorrow"}, "due_before"), ({"sort": "-follow_up_date"}, "sort"),
    ({"employee_id": "x"}, "employee_id"), ({"status": "completed"}, "status"),
])
def test_follow_ups_reject_invalid_query_parameters(sales, params, field):
    response = sales.get(FOLLOW_UPS, query_string=params)
    assert field in assert_error(response, 422, "validation_error")["errors"]
