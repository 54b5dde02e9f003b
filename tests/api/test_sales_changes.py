"""Sales: PATCH recomputes the amount in the same write; ETags; delete."""
import pytest
from bson import ObjectId
from bson.decimal128 import Decimal128

from tests.api.test_products import make_product
from tests.api.test_sales import SALES, make_customer, make_sale
from tests.conftest import assert_error


@pytest.fixture
def product(admin):
    return make_product(admin, price="10.05", currency="EUR")


@pytest.fixture
def sale(sales, admin, product):
    return make_sale(sales, make_customer(admin)["id"], product["id"], quantity=2)


def patched(api, sale, **changes):
    response = api.patch(f"{SALES}/{sale['id']}", json=changes)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def stored(db, sale):
    return db.sales.find_one({"_id": ObjectId(sale["id"])})


def test_patch_quantity_recomputes_the_amount(sales, sale, db):
    body = patched(sales, sale, quantity=7)

    assert (body["quantity"], body["amount"], body["version"]) == (7, "70.35", 2)
    assert (stored(db, sale)["amount"], stored(db, sale)["version"]) == (Decimal128("70.35"), 2)
    assert body["updated_at"] >= sale["updated_at"]


def test_patch_unit_price_recomputes_the_amount(sales, sale, db):
    body = patched(sales, sale, unit_price="0.10")
    assert (body["unit_price"], body["amount"]) == ("0.10", "0.20")
    assert stored(db, sale)["amount"] == Decimal128("0.20")


def test_patch_other_fields_keeps_the_amount(sales, sale, admin):
    other = make_customer(admin)["id"]
    body = patched(sales, sale, customer_id=other, sale_date="2025-05-01")
    assert (body["customer_id"], body["sale_date"], body["amount"]) == (other, "2025-05-01T00:00:00.000Z", "20.10")


def test_changing_the_product_price_later_leaves_past_sales_alone(admin, sales, sale, product):
    admin.patch(f"/api/v1/products/{product['id']}", json={"price": "99.00"})
    body = sales.get(f"{SALES}/{sale['id']}").get_json()
    assert (body["unit_price"], body["amount"]) == ("10.05", "20.10")


def test_patch_to_another_product_takes_its_price_and_currency(sales, sale, admin):
    other = make_product(admin, price="3.33", currency="USD")
    body = patched(sales, sale, product_id=other["id"])
    assert (body["product_id"], body["unit_price"], body["currency"], body["amount"]) == (
        other["id"], "3.33", "USD", "6.66")


def test_patch_to_another_product_with_a_unit_price_keeps_that_price(sales, sale, admin):
    other = make_product(admin, price="3.33")
    body = patched(sales, sale, product_id=other["id"], unit_price="5.00", quantity=3)
    assert (body["unit_price"], body["amount"]) == ("5.00", "15.00")


def test_patch_naming_the_same_product_keeps_the_sales_price(sales, sale, product, admin):
    admin.patch(f"/api/v1/products/{product['id']}", json={"price": "99.00"})
    body = patched(sales, sale, product_id=product["id"], quantity=1)
    assert (body["unit_price"], body["amount"]) == ("10.05", "10.05")


def test_patch_changing_currency_needs_a_unit_price(sales, sale, db):
    error = assert_error(sales.patch(f"{SALES}/{sale['id']}", json={"currency": "MAD"}), 422)
    assert error["errors"] == {"currency": ["Give unit_price too to change the currency."]}
    assert stored(db, sale)["currency"] == "EUR"


def test_patch_changing_currency_with_a_unit_price_is_accepted(sales, sale):
    body = patched(sales, sale, currency="MAD", unit_price="100.00")
    assert (body["currency"], body["amount"]) == ("MAD", "200.00")


@pytest.mark.parametrize(("field", "value"), [
    ("quantity", 0), ("unit_price", "1.005"), ("unit_price", "-3"), ("amount", "1.00"), ("product_id", "0" * 24),
    ("customer_id", "0" * 24), ("employee_id", "0" * 24), ("customer_id", None),
])
def test_patch_with_an_invalid_value_is_422_and_changes_nothing(sales, sale, db, field, value):
    error = assert_error(sales.patch(f"{SALES}/{sale['id']}", json={field: value}), 422, "validation_error")
    assert field in error["errors"]
    assert stored(db, sale)["version"] == 1


def test_patch_that_would_exceed_the_amount_limit_is_422(sales, sale, db):
    error = assert_error(sales.patch(f"{SALES}/{sale['id']}", json={"unit_price": "1000000000000"}), 422)
    assert "quantity" in error["errors"]
    assert stored(db, sale)["unit_price"] == Decimal128("10.05")


def test_patch_to_a_product_taken_off_sale_is_422(sales, sale, admin):
    retired = make_product(admin, is_active=False)
    error = assert_error(sales.patch(f"{SALES}/{sale['id']}", json={"product_id": retired["id"]}), 422)
    assert error["errors"] == {"product_id": ["This product is not on sale (is_active is false)."]}


def test_a_sale_of_a_product_taken_off_sale_can_still_be_corrected(sales, sale, admin, product):
    admin.patch(f"/api/v1/products/{product['id']}", json={"is_active": False})
    assert patched(sales, sale, quantity=1)["amount"] == "10.05"


def test_patch_with_an_empty_body_changes_nothing(sales, sale):
    response = sales.patch(f"{SALES}/{sale['id']}", json={})
    assert response.status_code == 200 and response.get_json() == sale


def test_patch_with_a_stale_if_match_is_412_and_changes_nothing(sales, sale, db):
    patched(sales, sale, quantity=3)
    response = sales.patch(f"{SALES}/{sale['id']}", json={"quantity": 9}, headers={"If-Match": f'"{sale["id"]}-1"'})
    assert_error(response, 412, "precondition_failed")
    assert (stored(db, sale)["quantity"], stored(db, sale)["amount"]) == (3, Decimal128("30.15"))


def test_get_with_if_none_match_gives_304(sales, sale):
    response = sales.get(f"{SALES}/{sale['id']}", headers={"If-None-Match": f'"{sale["id"]}-1"'})
    assert response.status_code == 304


@pytest.mark.parametrize("sale_id", [str(ObjectId()), "xyz"])
def test_unknown_or_malformed_sale_id_is_404(sales, sale_id):
    assert_error(sales.get(f"{SALES}/{sale_id}"), 404, "not_found")
    assert_error(sales.patch(f"{SALES}/{sale_id}", json={"quantity": 2}), 404, "not_found")


def test_delete_removes_the_sale_with_a_tombstone(sales, sale, db):
    response = sales.delete(f"{SALES}/{sale['id']}")
    assert response.status_code == 204
    assert db.sales.count_documents({}) == 0
    assert db.tombstones.find_one({"entity": "sales"})["entity_id"] == ObjectId(sale["id"])


def test_delete_with_a_stale_if_match_is_412_and_keeps_it(sales, sale, db):
    patched(sales, sale, quantity=3)
    assert_error(sales.delete(f"{SALES}/{sale['id']}", headers={"If-Match": f'"{sale["id"]}-1"'}), 412)
    assert db.sales.count_documents({}) == 1
