"""Sales: create with the product's price, exact amounts, and every validation rule."""
from decimal import Decimal

import pytest
from bson import ObjectId
from bson.decimal128 import Decimal128

from crm_service.repositories.base import utcnow
from crm_service.schemas.common import iso_z
from tests.api.test_products import make_product
from tests.conftest import assert_error, make_staff

SALES = "/api/v1/sales"
RECORD_FIELDS = {"id", "customer_id", "product_id", "quantity", "unit_price", "amount", "currency", "sale_date",
                 "employee_id", "version", "created_at", "updated_at"}


def make_customer(api):
    response = api.post("/api/v1/customers", json={"first_name": "Ann", "email": f"{ObjectId()}@mail.example"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def make_sale(api, customer_id, product_id, **fields):
    response = api.post(SALES, json={"customer_id": customer_id, "product_id": product_id, **fields})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.fixture
def customer_id(admin):
    return make_customer(admin)["id"]


@pytest.fixture
def product(admin):
    return make_product(admin, price="450.00", currency="EUR")


# -- create ---------------------------------------------------------------------------------------

def test_create_sale_returns_201_with_location_etag_and_full_record(sales, customer_id, product, db):
    response = sales.post(SALES, json={"customer_id": customer_id, "product_id": product["id"], "quantity": 3,
                                       "unit_price": "19.99", "currency": "USD",
                                       "sale_date": "2025-03-04T10:30:00Z"})

    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == RECORD_FIELDS
    assert (body["quantity"], body["unit_price"], body["amount"], body["currency"]) == (3, "19.99", "59.97", "USD")
    assert body["sale_date"] == "2025-03-04T10:30:00.000Z"
    assert body["employee_id"] == sales.user["id"] and body["version"] == 1
    assert response.headers["Location"].endswith(f"{SALES}/{body['id']}")
    assert response.headers["ETag"] == f'"{body["id"]}-1"'
    stored = db.sales.find_one({"_id": ObjectId(body["id"])})
    assert (stored["unit_price"], stored["amount"]) == (Decimal128("19.99"), Decimal128("59.97"))
    assert (stored["customer_id"], stored["product_id"]) == (ObjectId(customer_id), ObjectId(product["id"]))
    assert stored["employee_id"] == ObjectId(sales.user["id"])


def test_sale_defaults_to_one_of_the_product_at_its_price_and_currency_now(sales, customer_id, product):
    before = iso_z(utcnow())
    body = make_sale(sales, customer_id, product["id"])

    assert (body["quantity"], body["unit_price"], body["amount"], body["currency"]) == (1, "450.00", "450.00", "EUR")
    assert before <= body["sale_date"] <= iso_z(utcnow())


def test_unit_price_without_currency_takes_the_products_currency(sales, customer_id, product):
    body = make_sale(sales, customer_id, product["id"], unit_price="400")
    assert (body["unit_price"], body["currency"], body["amount"]) == ("400.00", "EUR", "400.00")


def test_amount_is_exact_where_binary_floats_are_not(sales, customer_id, admin, db):
    cheap = make_product(admin, price="0.10")
    body = make_sale(sales, customer_id, cheap["id"], quantity=3)

    assert 0.1 * 3 != 0.3
    assert body["amount"] == "0.30"
    assert db.sales.find_one({"_id": ObjectId(body["id"])})["amount"] == Decimal128("0.30")


def test_amounts_of_several_sales_sum_exactly(sales, customer_id, admin, db):
    for price in ("0.10", "0.20"):
        make_sale(sales, customer_id, make_product(admin, price=price)["id"])
    total = sum((sale["amount"].to_decimal() for sale in db.sales.find()), Decimal("0"))
    assert total == Decimal("0.30")


def test_large_quantity_times_price_is_exact(sales, customer_id, product):
    body = make_sale(sales, customer_id, product["id"], quantity=999_999, unit_price="1000000.01")
    assert body["amount"] == "999999009999.99"


def test_employee_may_be_another_active_staff_user(admin, app, customer_id, product):
    other = make_staff(app, "sales")
    assert make_sale(admin, customer_id, product["id"], employee_id=str(other["_id"]))["employee_id"] == str(
        other["_id"])


# -- validation -----------------------------------------------------------------------------------

def _rejected(api, db, body, field):
    error = assert_error(api.post(SALES, json=body), 422, "validation_error")
    assert field in error["errors"], error
    assert db.sales.count_documents({}) == 0
    return error


def test_unknown_customer_is_422(sales, db, product):
    error = _rejected(sales, db, {"customer_id": str(ObjectId()), "product_id": product["id"]}, "customer_id")
    assert error["errors"]["customer_id"] == ["No customer with this id."]


def test_unknown_product_is_422(sales, db, customer_id):
    error = _rejected(sales, db, {"customer_id": customer_id, "product_id": str(ObjectId())}, "product_id")
    assert error["errors"]["product_id"] == ["No product with this id."]


def test_a_product_taken_off_sale_is_422(sales, admin, db, customer_id):
    retired = make_product(admin, is_active=False)
    error = _rejected(sales, db, {"customer_id": customer_id, "product_id": retired["id"]}, "product_id")
    assert error["errors"]["product_id"] == ["This product is not on sale (is_active is false)."]


def test_unknown_customer_and_product_are_both_reported(sales, db):
    error = _rejected(sales, db, {"customer_id": str(ObjectId()), "product_id": str(ObjectId())}, "customer_id")
    assert set(error["errors"]) == {"customer_id", "product_id"}


@pytest.mark.parametrize("missing", ["customer_id", "product_id"])
def test_customer_and_product_are_required(sales, db, customer_id, product, missing):
    body = {"customer_id": customer_id, "product_id": product["id"]}
    del body[missing]
    _rejected(sales, db, body, missing)


@pytest.mark.parametrize("quantity", [0, -1, 1.5, "2", None, True, 1_000_001])
def test_invalid_quantity_is_422(sales, db, customer_id, product, quantity):
    _rejected(sales, db, {"customer_id": customer_id, "product_id": product["id"], "quantity": quantity}, "quantity")


@pytest.mark.parametrize("unit_price", ["12.345", "-1", "abc", 1e20, "NaN", "sNaN", "Infinity", None, "1,00"])
def test_invalid_unit_price_is_422(sales, db, customer_id, product, unit_price):
    body = {"customer_id": customer_id, "product_id": product["id"], "unit_price": unit_price}
    _rejected(sales, db, body, "unit_price")


def test_amount_over_the_limit_is_422_on_quantity(sales, db, customer_id, product):
    body = {"customer_id": customer_id, "product_id": product["id"], "quantity": 1000, "unit_price": "1000000000000"}
    _rejected(sales, db, body, "quantity")


def test_another_currency_without_a_unit_price_is_422(sales, db, customer_id, product):
    body = {"customer_id": customer_id, "product_id": product["id"], "currency": "MAD"}
    error = _rejected(sales, db, body, "currency")
    assert error["errors"]["currency"] == ["Give unit_price too to sell in another currency than the product's."]


def test_inactive_employee_is_422(sales, app, db, customer_id, product):
    inactive = make_staff(app, "sales", is_active=False)
    body = {"customer_id": customer_id, "product_id": product["id"], "employee_id": str(inactive["_id"])}
    assert _rejected(sales, db, body, "employee_id")["errors"]["employee_id"] == ["Not an active staff user."]


def test_customer_user_as_employee_is_422(sales, db, customer_id, product, customer):
    body = {"customer_id": customer_id, "product_id": product["id"], "employee_id": customer.user["id"]}
    _rejected(sales, db, body, "employee_id")


@pytest.mark.parametrize(("field", "value"), [
    ("amount", "10.00"), ("id", str(ObjectId())), ("version", 1), ("created_at", "2025-01-01"), ("note", "x"),
    ("sale_date", "yesterday"), ("currency", "eur"), ("customer_id", "abc"),
])
def test_read_only_unknown_and_malformed_fields_are_422(sales, db, customer_id, product, field, value):
    _rejected(sales, db, {"customer_id": customer_id, "product_id": product["id"], field: value}, field)


def test_sale_date_given_as_a_day_is_midnight_utc(sales, customer_id, product):
    assert make_sale(sales, customer_id, product["id"], sale_date="2025-01-31")["sale_date"] == \
        "2025-01-31T00:00:00.000Z"
