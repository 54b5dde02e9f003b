"""Sale lists (customer, product, employee, from/to, sorts), who may use sales, and privacy erasure."""
import pytest
from bson import ObjectId
from bson.decimal128 import Decimal128

from crm_service.repositories.sales import erase_customer
from tests.api.test_products import make_product
from tests.api.test_sales import SALES, make_customer, make_sale
from tests.conftest import assert_error, make_staff


def listed(api, **params):
    response = api.get(SALES, query_string=params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def dates(api, **params):
    return [item["sale_date"][:10] for item in listed(api, **params)["items"]]


@pytest.fixture
def world(admin, sales):
    """Two customers and two products; four sales on 1, 2, 3 and 4 March 2025."""
    ann, bob = make_customer(admin)["id"], make_customer(admin)["id"]
    tour, trek = make_product(admin, price="100.00")["id"], make_product(admin, price="0.10")["id"]
    make_sale(sales, ann, tour, sale_date="2025-03-01T09:00:00Z")
    make_sale(sales, bob, trek, sale_date="2025-03-02T09:00:00Z")
    make_sale(sales, ann, trek, sale_date="2025-03-03T09:00:00Z")
    make_sale(sales, bob, tour, sale_date="2025-03-04T09:00:00Z")
    return {"ann": ann, "bob": bob, "tour": tour, "trek": trek}


def test_list_is_newest_sale_first_in_the_page_envelope(sales, world):
    body = listed(sales)
    assert [item["sale_date"][:10] for item in body["items"]] == ["2025-03-04", "2025-03-03", "2025-03-02",
                                                                  "2025-03-01"]
    assert (body["total"], body["pages"], body["next_cursor"]) == (4, 1, None)
    assert body["items"][0]["amount"] == "100.00"


def test_filter_by_customer(sales, world):
    assert dates(sales, customer_id=world["ann"]) == ["2025-03-03", "2025-03-01"]


def test_filter_by_product(sales, world):
    assert dates(sales, product_id=world["trek"]) == ["2025-03-03", "2025-03-02"]


def test_filter_by_employee(admin, sales, app, world):
    other = make_staff(app, "sales")
    make_sale(admin, world["ann"], world["tour"], employee_id=str(other["_id"]), sale_date="2025-02-01")
    assert dates(admin, employee_id=str(other["_id"])) == ["2025-02-01"]


def test_from_is_inclusive_and_to_is_exclusive(sales, world):
    assert dates(sales, **{"from": "2025-03-02T09:00:00Z", "to": "2025-03-04T09:00:00Z"}) == ["2025-03-03",
                                                                                            "2025-03-02"]


def test_from_and_to_take_plain_dates(sales, world):
    assert dates(sales, **{"from": "2025-03-02", "to": "2025-03-03"}) == ["2025-03-02"]


def test_customer_and_date_filters_combine(sales, world):
    assert dates(sales, customer_id=world["bob"], **{"from": "2025-03-03"}) == ["2025-03-04"]


def test_sort_by_sale_date_ascending_with_cursor_paging(sales, world):
    first = listed(sales, sort="sale_date", size=3)
    second = listed(sales, sort="sale_date", size=3, cursor=first["next_cursor"])
    seen = [item["sale_date"][:10] for item in first["items"] + second["items"]]
    assert seen == ["2025-03-01", "2025-03-02", "2025-03-03", "2025-03-04"]
    assert second["next_cursor"] is None


def test_sort_by_created_at(sales, world):
    assert dates(sales, sort="created_at") == ["2025-03-01", "2025-03-02", "2025-03-03", "2025-03-04"]


@pytest.mark.parametrize(("param", "value"), [
    ("customer_id", "ann"), ("product_id", "1"), ("from", "March"), ("to", "2025-02-30"), ("sort", "amount"),
    ("amount", "1"), ("page", "0"),
])
def test_invalid_query_parameters_are_422(sales, param, value):
    assert param in assert_error(sales.get(SALES, query_string={param: value}), 422)["errors"]


# -- roles ----------------------------------------------------------------------------------------

@pytest.fixture
def one_sale(admin):
    return make_sale(admin, make_customer(admin)["id"], make_product(admin)["id"])


def _calls(api, sale):
    return [
        api.get(SALES),
        api.get(f"{SALES}/{sale['id']}"),
        api.post(SALES, json={"customer_id": sale["customer_id"], "product_id": sale["product_id"]}),
        api.patch(f"{SALES}/{sale['id']}", json={"quantity": 2}),
        api.delete(f"{SALES}/{sale['id']}"),
    ]


@pytest.mark.parametrize("role", ["admin", "sales"])
def test_staff_may_use_every_sales_endpoint(request, role, one_sale):
    statuses = [response.status_code for response in _calls(request.getfixturevalue(role), one_sale)]
    assert statuses == [200, 200, 201, 200, 204]


def test_customer_users_get_403_on_every_sales_endpoint(customer, db, one_sale):
    before = list(db.sales.find())
    for response in _calls(customer, one_sale):
        assert_error(response, 403, "forbidden")
    assert list(db.sales.find()) == before


def test_customer_user_gets_403_even_for_its_own_sales(admin, customer):
    own = make_sale(admin, customer.customer_id, make_product(admin)["id"])
    assert_error(customer.get(f"{SALES}/{own['id']}"), 403, "forbidden")
    assert_error(customer.get(SALES, query_string={"customer_id": customer.customer_id}), 403, "forbidden")


def test_anonymous_callers_get_401_on_every_sales_endpoint(anon, one_sale):
    for response in _calls(anon, one_sale):
        assert_error(response, 401, "unauthorized")


# -- erasure --------------------------------------------------------------------------------------

def test_erase_customer_keeps_the_sales_amounts_but_drops_the_customer(admin, db, world):
    assert erase_customer(db, ObjectId(world["ann"])) == 2

    erased = list(db.sales.find({"customer_id": None}))
    assert sorted((sale["amount"] for sale in erased), key=str) == [Decimal128("0.10"), Decimal128("100.00")]
    assert all(sale["version"] == 2 for sale in erased)
    assert db.sales.count_documents({"customer_id": ObjectId(world["bob"])}) == 2
    assert db.sales.count_documents({"customer_id": ObjectId(world["ann"])}) == 0


def test_erase_customer_with_no_sales_touches_nothing(db, world):
    before = list(db.sales.find())
    assert erase_customer(db, ObjectId()) == 0
    assert list(db.sales.find()) == before


def test_an_erased_sale_reads_with_a_null_customer_and_its_amount(sales, db, world):
    erase_customer(db, ObjectId(world["bob"]))
    items = listed(sales, product_id=world["tour"])["items"]
    assert [(item["customer_id"], item["amount"]) for item in items] == [(None, "100.00"), (world["ann"], "100.00")]
