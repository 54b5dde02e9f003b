"""Anonymous feedback names its customer only to admins and to its author."""
import pytest
from bson import ObjectId

from tests.api.test_feedback import FEEDBACK, stored, submit


@pytest.fixture
def anonymous(customer):
    return submit(customer, is_anonymous=True, comments="The bus was late again, terrible service.")


@pytest.fixture
def signed(customer):
    return submit(customer, comments="Thanks for the tour.")


def test_the_author_sees_its_own_customer_id_on_anonymous_feedback(customer, anonymous):
    assert anonymous["customer_id"] == customer.customer_id and anonymous["is_anonymous"] is True
    assert customer.get(f"{FEEDBACK}/{anonymous['id']}").get_json()["customer_id"] == customer.customer_id
    assert [item["customer_id"] for item in customer.get(FEEDBACK).get_json()["items"]] == [customer.customer_id]


def test_the_customer_is_still_stored_for_anonymous_feedback(db, customer, anonymous):
    assert stored(db, anonymous["id"])["customer_id"] == ObjectId(customer.customer_id)


def test_sales_see_no_customer_on_anonymous_feedback(sales, anonymous):
    response = sales.get(f"{FEEDBACK}/{anonymous['id']}")
    assert response.status_code == 200
    assert response.get_json() == {**anonymous, "customer_id": None}


def test_sales_see_no_customer_on_anonymous_feedback_in_lists(sales, customer, anonymous, signed):
    items = {item["id"]: item for item in sales.get(FEEDBACK).get_json()["items"]}
    assert items[anonymous["id"]]["customer_id"] is None
    assert items[signed["id"]]["customer_id"] == customer.customer_id


def test_the_resolution_answer_to_sales_hides_the_customer_too(sales, anonymous):
    body = sales.patch(f"{FEEDBACK}/{anonymous['id']}", json={"resolution_notes": "Apologised"}).get_json()
    assert body["resolved"] is True and body["customer_id"] is None


def test_admins_see_the_customer_of_anonymous_feedback(admin, customer, anonymous):
    assert admin.get(f"{FEEDBACK}/{anonymous['id']}").get_json()["customer_id"] == customer.customer_id
    items = admin.get(FEEDBACK).get_json()["items"]
    assert [item["customer_id"] for item in items] == [customer.customer_id]


def test_an_admin_submitting_anonymous_feedback_sees_the_customer(admin, customer):
    body = submit(admin, customer_id=customer.customer_id, is_anonymous=True)
    assert body["customer_id"] == customer.customer_id


def test_a_sales_customer_id_filter_never_returns_anonymous_feedback(sales, customer, anonymous, signed):
    body = sales.get(FEEDBACK, query_string={"customer_id": customer.customer_id}).get_json()
    assert [item["id"] for item in body["items"]] == [signed["id"]]
    assert body["total"] == 1


def test_an_admins_customer_id_filter_returns_anonymous_feedback(admin, customer, anonymous, signed):
    body = admin.get(FEEDBACK, query_string={"customer_id": customer.customer_id}).get_json()
    assert sorted(item["id"] for item in body["items"]) == sorted([anonymous["id"], signed["id"]])


def test_sales_combining_customer_id_with_other_filters_still_skip_anonymous(sales, admin, customer, anonymous):
    query = {"customer_id": customer.customer_id, "sentiment": "negative"}
    assert sales.get(FEEDBACK, query_string=query).get_json()["items"] == []
    assert [item["id"] for item in admin.get(FEEDBACK, query_string=query).get_json()["items"]] == [anonymous["id"]]


def test_another_customer_cannot_see_anonymous_feedback_at_all(other_customer, anonymous):
    assert other_customer.get(f"{FEEDBACK}/{anonymous['id']}").status_code == 404
    assert other_customer.get(FEEDBACK).get_json()["items"] == []
