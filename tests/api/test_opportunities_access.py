"""Opportunities: who may do what (staff all, customers nothing), and privacy erasure."""
import pytest
from bson import ObjectId
from bson.decimal128 import Decimal128

from crm_service.repositories.opportunities import erase_customer
from tests.api.test_opportunities import OPPORTUNITIES, make_customer, make_opportunity
from tests.conftest import assert_error

ENDPOINTS = [
    ("get", OPPORTUNITIES, None),
    ("post", OPPORTUNITIES, "body"),
    ("get", OPPORTUNITIES + "/{id}", None),
    ("patch", OPPORTUNITIES + "/{id}", {"title": "Changed"}),
    ("delete", OPPORTUNITIES + "/{id}", None),
]


@pytest.fixture
def existing(admin):
    customer_id = make_customer(admin)["id"]
    return customer_id, make_opportunity(admin, customer_id)


def call(api, method, path, body, existing):
    customer_id, opportunity = existing
    if body == "body":
        body = {"customer_id": customer_id, "title": "New", "amount": "10.00"}
    return getattr(api, method)(path.format(id=opportunity["id"]), json=body)


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
@pytest.mark.parametrize("role", ["admin", "sales"])
def test_staff_may_use_every_opportunity_endpoint(request, role, method, path, body, existing):
    response = call(request.getfixturevalue(role), method, path, body, existing)
    assert response.status_code in (200, 201, 204), response.get_json()


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_customer_users_get_403_on_every_opportunity_endpoint(customer, db, method, path, body, existing):
    before = list(db.opportunities.find())
    assert_error(call(customer, method, path, body, existing), 403, "forbidden")
    assert list(db.opportunities.find()) == before


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_anonymous_callers_get_401_on_every_opportunity_endpoint(anon, method, path, body, existing):
    assert_error(call(anon, method, path, body, existing), 401, "unauthorized")


def test_customer_user_gets_403_even_for_an_opportunity_of_its_own_record(admin, customer):
    own = make_opportunity(admin, customer.customer_id)
    assert_error(customer.get(f"{OPPORTUNITIES}/{own['id']}"), 403, "forbidden")


# -- erasure --------------------------------------------------------------------------------------

def test_erase_customer_keeps_amounts_but_drops_the_link_and_free_text(admin, db):
    erased = make_customer(admin)["id"]
    lost = make_opportunity(admin, erased, title="Trip for Ann Smith", stage="lost", lost_reason="Ann moved away",
                            amount="120.50")
    open_one = make_opportunity(admin, erased, title="Ann's honeymoon")

    assert erase_customer(db, ObjectId(erased)) == 2

    stored = db.opportunities.find_one({"_id": ObjectId(lost["id"])})
    assert (stored["customer_id"], stored["title"], stored["lost_reason"]) == (None, "[erased]", "[erased]")
    assert (stored["amount"], stored["stage"], stored["version"]) == (Decimal128("120.50"), "lost", 2)
    other = db.opportunities.find_one({"_id": ObjectId(open_one["id"])})
    assert (other["customer_id"], other["title"], other["lost_reason"]) == (None, "[erased]", None)


def test_erase_customer_leaves_other_customers_opportunities_alone(admin, db):
    erased, kept = make_customer(admin)["id"], make_customer(admin)["id"]
    make_opportunity(admin, erased)
    other = make_opportunity(admin, kept, title="Keep me", stage="lost", lost_reason="Kept reason")

    erase_customer(db, ObjectId(erased))

    stored = db.opportunities.find_one({"_id": ObjectId(other["id"])})
    assert (stored["customer_id"], stored["title"], stored["lost_reason"], stored["version"]) == (
        ObjectId(kept), "Keep me", "Kept reason", 1)


def test_erase_customer_with_no_opportunities_touches_nothing(admin, db):
    assert erase_customer(db, ObjectId()) == 0


def test_an_erased_opportunity_still_reads_with_a_null_customer(admin, db):
    erased = make_customer(admin)["id"]
    created = make_opportunity(admin, erased)
    erase_customer(db, ObjectId(erased))

    body = admin.get(f"{OPPORTUNITIES}/{created['id']}").get_json()
    assert (body["customer_id"], body["title"], body["amount"]) == (None, "[erased]", "1500.00")


def test_an_erased_opportunity_can_still_be_won_without_a_customer(admin, db):
    erased = make_customer(admin)["id"]
    created = make_opportunity(admin, erased)
    erase_customer(db, ObjectId(erased))

    response = admin.patch(f"{OPPORTUNITIES}/{created['id']}", json={"stage": "won"})
    assert response.status_code == 200
    assert (response.get_json()["stage"], response.get_json()["customer_id"]) == ("won", None)
