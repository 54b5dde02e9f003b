"""Who may do what with interactions: staff everything, customer users read their own only, anonymous nothing."""
import pytest
from bson import ObjectId

from tests.api.interaction_helpers import BASE, ahead, history_url, ids, item_url, log, stored_customer
from tests.conftest import assert_error

FEED = f"{BASE}/interactions"


@pytest.fixture
def own(sales, customer):
    """Two interactions on the customer user's own record, both with a staff-only comment."""
    first = log(sales, customer.customer_id, employee_comment="Hard negotiator", follow_up_date=ahead(days=2),
                occurred_at="2024-03-01T00:00:00Z")
    meeting = log(sales, customer.customer_id, type="meeting", occurred_at=ahead(days=3),
                  employee_comment="Bring the contract")
    return [first, meeting]


@pytest.fixture
def foreign(sales, other_customer):
    return log(sales, other_customer.customer_id, employee_comment="Secret", follow_up_date=ahead(days=1),
               occurred_at="2024-04-01T00:00:00Z")


def test_a_customer_reads_its_own_history_without_staff_only_fields(customer, own):
    response = customer.get(history_url(customer.customer_id))
    assert response.status_code == 200
    items = response.get_json()["items"]
    assert sorted(ids(items)) == sorted(ids(own))
    assert all("employee_comment" not in item for item in items)
    assert items[0]["notes"] == own[1]["notes"]


def test_a_customer_reads_one_own_interaction_without_staff_only_fields(customer, own):
    response = customer.get(item_url(customer.customer_id, own[0]["id"]))
    assert response.status_code == 200
    body = response.get_json()
    assert "employee_comment" not in body
    assert body == {key: value for key, value in own[0].items() if key != "employee_comment"}


def test_staff_see_the_staff_only_fields(sales, customer, own):
    assert sales.get(item_url(customer.customer_id, own[0]["id"])).get_json()["employee_comment"] == "Hard negotiator"


def test_a_customer_gets_404_for_another_customers_history(customer, other_customer, foreign):
    assert_error(customer.get(history_url(other_customer.customer_id)), 404, "not_found")


def test_a_customer_gets_404_for_another_customers_interaction(customer, other_customer, foreign):
    assert_error(customer.get(item_url(other_customer.customer_id, foreign["id"])), 404, "not_found")
    assert_error(customer.get(item_url(customer.customer_id, foreign["id"])), 404, "not_found")


def test_a_customer_gets_the_same_404_for_an_unknown_customer(customer):
    unknown = customer.get(history_url(str(ObjectId())))
    assert_error(unknown, 404, "not_found")


def test_the_feed_of_a_customer_holds_only_its_own(customer, own, foreign):
    body = customer.get(FEED).get_json()
    assert sorted(ids(body["items"])) == sorted(ids(own)) and body["total"] == 2
    assert all("employee_comment" not in item for item in body["items"])


def test_a_customer_id_filter_for_someone_else_is_ignored(customer, other_customer, own, foreign):
    for url in (FEED, f"{FEED}/follow-ups", f"{FEED}/upcoming"):
        body = customer.get(url, query_string={"customer_id": other_customer.customer_id}).get_json()
        assert foreign["id"] not in ids(body["items"])
        assert {item["customer_id"] for item in body["items"]} <= {customer.customer_id}


def test_a_customer_sees_only_its_own_upcoming_meetings_and_follow_ups(customer, sales, own, foreign):
    upcoming = customer.get(f"{FEED}/upcoming").get_json()
    assert ids(upcoming["items"]) == [own[1]["id"]]
    assert "employee_comment" not in upcoming["items"][0]
    follow_ups = customer.get(f"{FEED}/follow-ups").get_json()
    assert ids(follow_ups["items"]) == [own[0]["id"]]
    assert ids(sales.get(f"{FEED}/follow-ups").get_json()["items"]) == [foreign["id"], own[0]["id"]]


@pytest.mark.parametrize("method, suffix, body", [
    ("post", "/interactions", {"type": "note", "notes": "I called"}),
    ("post", "/meetings", {"scheduled_at": "2030-01-01T10:00:00Z", "subject": "Visit"}),
    ("patch", "/interactions/{iid}", {"notes": "Changed by me"}),
    ("put", "/interactions/{iid}", {"notes": "Changed by me"}),
    ("delete", "/interactions/{iid}", None),
])
def test_a_customer_may_not_write_even_its_own_history(customer, db, own, method, suffix, body):
    before = stored_customer(db, customer.customer_id)
    path = f"{BASE}/customers/{customer.customer_id}" + suffix.format(iid=own[0]["id"])
    kwargs = {} if body is None else {"json": body}
    assert_error(getattr(customer, method)(path, **kwargs), 403, "forbidden")
    assert stored_customer(db, customer.customer_id) == before


def _paths(customer_id, interaction_id):
    base = f"{BASE}/customers/{customer_id}"
    return {
        "history": ("get", f"{base}/interactions", None),
        "read": ("get", f"{base}/interactions/{interaction_id}", None),
        "create": ("post", f"{base}/interactions", {"type": "note", "notes": "Logged"}),
        "meeting": ("post", f"{base}/meetings", {"scheduled_at": "2030-01-01T10:00:00Z", "subject": "Visit"}),
        "update": ("patch", f"{base}/interactions/{interaction_id}", {"notes": "Edited"}),
        "replace": ("put", f"{base}/interactions/{interaction_id}", {"notes": "Edited"}),
        "delete": ("delete", f"{base}/interactions/{interaction_id}", None),
        "feed": ("get", FEED, None),
        "upcoming": ("get", f"{FEED}/upcoming", None),
        "follow_ups": ("get", f"{FEED}/follow-ups", None),
    }


EXPECTED = {
    # action: (anonymous, customer on own record, customer on another's, sales, admin)
    "history": (401, 200, 404, 200, 200),
    "read": (401, 200, 404, 200, 200),
    "create": (401, 403, 403, 201, 201),
    "meeting": (401, 403, 403, 201, 201),
    "update": (401, 403, 403, 200, 200),
    "replace": (401, 403, 403, 200, 200),
    "delete": (401, 403, 403, 204, 204),
    "feed": (401, 200, 200, 200, 200),
    "upcoming": (401, 200, 200, 200, 200),
    "follow_ups": (401, 200, 200, 200, 200),
}


@pytest.mark.parametrize("action", sorted(EXPECTED))
@pytest.mark.parametrize("who", ["anonymous", "customer_own", "customer_other", "sales", "admin"])
def test_authorization_matrix(request, sales, customer, other_customer, action, who):
    callers = {"anonymous": "anon", "customer_own": "customer", "customer_other": "customer",
               "sales": "sales", "admin": "admin"}
    target = other_customer if who == "customer_other" else customer
    interaction = log(sales, target.customer_id, occurred_at="2024-01-01T00:00:00Z")
    caller = request.getfixturevalue(callers[who])
    method, path, body = _paths(target.customer_id, interaction["id"])[action]
    response = getattr(caller, method)(path, **({} if body is None else {"json": body}))
    expected = EXPECTED[action][["anonymous", "customer_own", "customer_other", "sales", "admin"].index(who)]
    if expected >= 400:
        assert_error(response, expected)
    else:
        assert response.status_code == expected, response.get_json()


def test_anonymous_callers_get_401_in_the_error_shape(anon, customer, own):
    body = assert_error(anon.get(history_url(customer.customer_id)), 401, "unauthorized")
    assert "msg" not in body


def test_a_bad_token_is_401_not_422(client, customer, own):
    response = client.get(FEED, headers={"Authorization": "Bearer not.a.token"})
    assert_error(response, 401, "unauthorized")
