"""Who may do what with tickets: the role matrix, customer confinement, comments and assignment."""
import pytest
from bson import ObjectId

from tests.api.ticket_helpers import BASE, raise_ticket, set_status, stored, url
from tests.conftest import assert_error, make_staff

# endpoint -> (method, action path or None for the ticket itself or "" for the collection, body)
ENDPOINTS = {
    "list": ("get", "", None),
    "create": ("post", "", {"subject": "Broken"}),
    "read": ("get", None, None),
    "update": ("patch", None, {"priority": "high"}),
    "delete": ("delete", None, None),
    "resolve": ("post", "resolve", None),
    "reopen": ("post", "reopen", None),
    "comment": ("post", "comments", {"body": "Any news?"}),
    "assign": ("post", "assign", {"assignee_id": None}),
}
EXPECTED = {
    "admin": {"list": 200, "create": 201, "read": 200, "update": 200, "delete": 204, "resolve": 200,
              "reopen": 200, "comment": 201, "assign": 200},
    "sales": {"list": 200, "create": 201, "read": 200, "update": 200, "delete": 204, "resolve": 200,
              "reopen": 200, "comment": 201, "assign": 200},
    "customer": {"list": 200, "create": 201, "read": 200, "update": 403, "delete": 403, "resolve": 200,
                 "reopen": 200, "comment": 201, "assign": 403},
    "anon": dict.fromkeys(ENDPOINTS, 401),
}
MATRIX = [(role, endpoint, status) for role, row in EXPECTED.items() for endpoint, status in row.items()]


def call(api, endpoint, ticket_id, customer_id):
    method, action, body = ENDPOINTS[endpoint]
    path = BASE if action == "" else url(ticket_id, action)
    if endpoint == "create":
        body = {**body, "customer_id": customer_id}
    return getattr(api, method)(path, json=body) if body is not None else getattr(api, method)(path)


@pytest.mark.parametrize(("role", "endpoint", "status"), MATRIX)
def test_role_matrix(request, customer, db, role, endpoint, status):
    """Each role on each endpoint, on a ticket of the customer user's own record."""
    ticket = raise_ticket(customer)
    if endpoint == "reopen":
        set_status(db, ticket["id"], "resolved")
    api = customer if role == "customer" else request.getfixturevalue(role)

    response = call(api, endpoint, ticket["id"], customer.customer_id)

    if status >= 400:
        assert_error(response, status)
    else:
        assert response.status_code == status, response.get_json()


@pytest.mark.parametrize(("endpoint", "status"), [
    ("read", 404), ("resolve", 404), ("reopen", 404), ("comment", 404),
    ("update", 403), ("delete", 403), ("assign", 403),
])
def test_a_customer_cannot_touch_another_customers_ticket(customer, other_customer, db, endpoint, status):
    """404 where customers may act at all (ids are not confirmed); 403 where the role never may."""
    ticket = raise_ticket(other_customer)
    if endpoint == "reopen":
        set_status(db, ticket["id"], "resolved")
    before = stored(db, ticket["id"])

    response = call(customer, endpoint, ticket["id"], customer.customer_id)

    assert_error(response, status)
    assert stored(db, ticket["id"]) == before


def test_a_customer_gets_the_same_404_for_an_unknown_ticket(customer):
    body = assert_error(customer.get(url(str(ObjectId()))), 404, "not_found")

    assert body["message"] == "Ticket not found"


def test_a_customer_lists_only_its_own_tickets(customer, other_customer):
    own = raise_ticket(customer)
    raise_ticket(other_customer)

    body = customer.get(BASE).get_json()

    assert [item["id"] for item in body["items"]] == [own["id"]] and body["total"] == 1


def test_a_customer_id_filter_from_a_customer_is_ignored(customer, other_customer):
    own = raise_ticket(customer)
    raise_ticket(other_customer)

    body = customer.get(BASE, query_string={"customer_id": other_customer.customer_id}).get_json()

    assert [item["id"] for item in body["items"]] == [own["id"]]


def test_staff_and_customers_comment(customer, sales, db):
    ticket = raise_ticket(customer)

    first = customer.post(url(ticket["id"], "comments"), json={"body": "Still broken"})
    second = sales.post(url(ticket["id"], "comments"), json={"body": "On it", "internal": False})

    assert first.status_code == 201 and second.status_code == 201
    assert second.headers["Location"].endswith(url(ticket["id"]))
    comments = second.get_json()["comments"]
    assert [(item["body"], item["author_id"], item["internal"]) for item in comments] == [
        ("Still broken", customer.user["id"], False), ("On it", sales.user["id"], False)]
    assert all(set(item) == {"id", "author_id", "body", "internal", "created_at"} for item in comments)
    assert second.get_json()["version"] == 3 and len(stored(db, ticket["id"])["comments"]) == 2


def test_a_customer_may_not_write_an_internal_comment(customer, db):
    ticket = raise_ticket(customer)

    response = customer.post(url(ticket["id"], "comments"), json={"body": "psst", "internal": True})

    assert_error(response, 403, "forbidden")
    assert stored(db, ticket["id"])["comments"] == []


@pytest.mark.parametrize("body", [{}, {"body": ""}, {"body": "x" * 4001}, {"body": "ok", "author_id": "x"},
                                  {"body": "ok", "internal": "maybe"}])
def test_invalid_comments_are_422(sales, customer, db, body):
    ticket = raise_ticket(customer)

    assert_error(sales.post(url(ticket["id"], "comments"), json=body), 422, "validation_error")
    assert stored(db, ticket["id"])["comments"] == []


def test_a_full_ticket_refuses_more_comments(sales, customer, db, monkeypatch):
    monkeypatch.setattr("crm_service.repositories.tickets.MAX_COMMENTS", 2)
    ticket = raise_ticket(customer)
    for text in ("one", "two"):
        assert sales.post(url(ticket["id"], "comments"), json={"body": text}).status_code == 201

    response = sales.post(url(ticket["id"], "comments"), json={"body": "three"})

    assert "body" in assert_error(response, 422)["errors"]
    assert [item["body"] for item in stored(db, ticket["id"])["comments"]] == ["one", "two"]


@pytest.fixture
def discussed(customer, sales):
    """A customer's ticket with a public comment and an internal one."""
    ticket = raise_ticket(customer)
    sales.post(url(ticket["id"], "comments"), json={"body": "We will call you"})
    response = sales.post(url(ticket["id"], "comments"), json={"body": "Customer is rude", "internal": True})
    assert response.status_code == 201
    return response.get_json()


def test_staff_see_internal_comments(sales, discussed):
    comments = sales.get(url(discussed["id"])).get_json()["comments"]

    assert [(item["body"], item["internal"]) for item in comments] == [("We will call you", False),
                                                                       ("Customer is rude", True)]


def test_customers_never_see_internal_comments(customer, discussed):
    answers = [customer.get(url(discussed["id"])),
               customer.post(url(discussed["id"], "comments"), json={"body": "Hello?"}),
               customer.post(url(discussed["id"], "resolve"))]

    for response in answers:
        assert response.status_code in (200, 201)
        bodies = [item["body"] for item in response.get_json()["comments"]]
        assert "Customer is rude" not in bodies and "We will call you" in bodies


def test_list_items_carry_no_comments(sales, customer, discussed):
    for api in (sales, customer):
        item = api.get(BASE).get_json()["items"][0]

        assert item["id"] == discussed["id"] and "comments" not in item


def test_staff_assign_a_ticket(sales, admin, customer, db):
    ticket = raise_ticket(customer)

    response = sales.post(url(ticket["id"], "assign"), json={"assignee_id": admin.user["id"]})

    assert response.status_code == 200 and response.get_json()["assignee_id"] == admin.user["id"]
    assert stored(db, ticket["id"])["assignee_id"] == ObjectId(admin.user["id"])


def test_assign_with_null_unassigns(sales, admin, customer):
    ticket = raise_ticket(customer)
    sales.post(url(ticket["id"], "assign"), json={"assignee_id": admin.user["id"]})

    assert sales.post(url(ticket["id"], "assign"), json={"assignee_id": None}).get_json()["assignee_id"] is None


@pytest.mark.parametrize("body", [{}, {"assignee_id": "bad"}, {"assignee_id": str(ObjectId())}, "inactive",
                                  "customer_user"])
def test_assign_needs_an_active_staff_user(app, sales, customer, db, body):
    ticket = raise_ticket(customer)
    if body == "inactive":
        body = {"assignee_id": str(make_staff(app, "sales", is_active=False)["_id"])}
    elif body == "customer_user":
        body = {"assignee_id": customer.user["id"]}

    response = sales.post(url(ticket["id"], "assign"), json=body)

    assert "assignee_id" in assert_error(response, 422)["errors"]
    assert stored(db, ticket["id"])["assignee_id"] is None
