"""Products: create, validate, unique SKUs, read, change, ETags, delete."""
import pytest
from bson import ObjectId
from bson.decimal128 import Decimal128

from tests.conftest import assert_error

PRODUCTS = "/api/v1/products"
RECORD_FIELDS = {"id", "sku", "name", "description", "price", "currency", "is_active", "version", "created_at",
                 "updated_at"}


def make_product(api, **fields):
    body = {"sku": f"SKU-{ObjectId()}", "name": "Atlas trek", "price": "450.00", **fields}
    response = api.post(PRODUCTS, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


# -- create ---------------------------------------------------------------------------------------

def test_create_product_returns_201_with_location_etag_and_full_record(admin, db):
    response = admin.post(PRODUCTS, json={"sku": "TOUR-ATLAS-3D", "name": "Atlas 3 days", "description": "Guided",
                                          "price": "1299.90", "currency": "EUR", "is_active": True})

    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == RECORD_FIELDS
    assert {key: body[key] for key in ("sku", "name", "description", "price", "currency", "is_active")} == {
        "sku": "TOUR-ATLAS-3D", "name": "Atlas 3 days", "description": "Guided", "price": "1299.90",
        "currency": "EUR", "is_active": True}
    assert body["version"] == 1 and body["created_at"] == body["updated_at"]
    assert response.headers["Location"].endswith(f"{PRODUCTS}/{body['id']}")
    assert response.headers["ETag"] == f'"{body["id"]}-1"'
    stored = db.products.find_one({"_id": ObjectId(body["id"])})
    assert stored["price"] == Decimal128("1299.90")


def test_create_product_defaults_currency_active_and_description(admin, app):
    body = make_product(admin)
    assert (body["currency"], body["is_active"], body["description"]) == (app.config["BASE_CURRENCY"], True, None)


def test_sku_is_stored_upper_case(admin, db):
    body = make_product(admin, sku=" tour-atlas-3d ")
    assert body["sku"] == "TOUR-ATLAS-3D"
    assert db.products.find_one({"_id": ObjectId(body["id"])})["sku"] == "TOUR-ATLAS-3D"


def test_sku_is_unique_case_insensitively(admin, db):
    make_product(admin, sku="TOUR-1")
    error = assert_error(admin.post(PRODUCTS, json={"sku": "tour-1", "name": "Other", "price": "1"}), 409, "conflict")

    assert error["errors"] == {"sku": ["This value is already in use."]}
    assert db.products.count_documents({}) == 1


def test_changing_a_sku_to_one_in_use_is_409_and_changes_nothing(admin, db):
    make_product(admin, sku="TOUR-1")
    other = make_product(admin, sku="TOUR-2")
    error = assert_error(admin.patch(f"{PRODUCTS}/{other['id']}", json={"sku": "Tour-1"}), 409, "conflict")

    assert error["errors"] == {"sku": ["This value is already in use."]}
    assert db.products.find_one({"_id": ObjectId(other["id"])})["sku"] == "TOUR-2"


def test_price_keeps_exact_cents_from_a_json_number(admin, db):
    body = make_product(admin, price=0.3)
    assert body["price"] == "0.30"
    assert db.products.find_one({"_id": ObjectId(body["id"])})["price"] == Decimal128("0.30")


@pytest.mark.parametrize("price", ["12.345", "-1", "abc", 1e20, "NaN", "-Infinity", "1e3x", False, None, {}])
def test_invalid_price_is_422(admin, db, price):
    error = assert_error(admin.post(PRODUCTS, json={"sku": "A1", "name": "N", "price": price}), 422)
    assert "price" in error["errors"]
    assert db.products.count_documents({}) == 0


@pytest.mark.parametrize("missing", ["sku", "name", "price"])
def test_required_fields_are_422_when_missing(admin, db, missing):
    body = {"sku": "A1", "name": "N", "price": "1"}
    del body[missing]
    assert missing in assert_error(admin.post(PRODUCTS, json=body), 422)["errors"]
    assert db.products.count_documents({}) == 0


@pytest.mark.parametrize(("field", "value"), [
    ("sku", ""), ("sku", "-LEADING"), ("sku", "has space"), ("sku", "X" * 65), ("name", ""), ("name", "n" * 201),
    ("currency", "mad"), ("is_active", "maybe"), ("description", "d" * 5001), ("id", str(ObjectId())),
    ("version", 3), ("colour", "red"),
])
def test_invalid_or_read_only_fields_are_422(admin, db, field, value):
    body = {"sku": "A1", "name": "N", "price": "1", field: value}
    assert field in assert_error(admin.post(PRODUCTS, json=body), 422)["errors"]
    assert db.products.count_documents({}) == 0


# -- read and change ------------------------------------------------------------------------------

def test_read_product_returns_it_with_etag(sales, admin):
    created = make_product(admin)
    response = sales.get(f"{PRODUCTS}/{created['id']}")
    assert response.status_code == 200 and response.get_json() == created
    assert response.headers["ETag"] == f'"{created["id"]}-1"'


@pytest.mark.parametrize("product_id", [str(ObjectId()), "nope"])
def test_unknown_or_malformed_product_id_is_404(admin, product_id):
    assert_error(admin.get(f"{PRODUCTS}/{product_id}"), 404, "not_found")


def test_patch_changes_price_and_name_and_bumps_version(admin, db):
    created = make_product(admin)
    response = admin.patch(f"{PRODUCTS}/{created['id']}", json={"price": "99.99", "name": "Short trek"})

    body = response.get_json()
    assert response.status_code == 200
    assert (body["price"], body["name"], body["version"]) == ("99.99", "Short trek", 2)
    assert db.products.find_one({"_id": ObjectId(created["id"])})["price"] == Decimal128("99.99")


def test_patch_can_take_a_product_off_sale(admin):
    created = make_product(admin)
    assert admin.patch(f"{PRODUCTS}/{created['id']}", json={"is_active": False}).get_json()["is_active"] is False


def test_patch_with_invalid_price_is_422_and_changes_nothing(admin, db):
    created = make_product(admin)
    assert "price" in assert_error(admin.patch(f"{PRODUCTS}/{created['id']}", json={"price": "1.999"}), 422)["errors"]
    assert db.products.find_one({"_id": ObjectId(created["id"])})["version"] == 1


def test_patch_with_a_stale_if_match_is_412_and_changes_nothing(admin, db):
    created = make_product(admin)
    admin.patch(f"{PRODUCTS}/{created['id']}", json={"name": "Second"})
    response = admin.patch(f"{PRODUCTS}/{created['id']}", json={"name": "Third"},
                           headers={"If-Match": f'"{created["id"]}-1"'})
    assert_error(response, 412, "precondition_failed")
    assert db.products.find_one({"_id": ObjectId(created["id"])})["name"] == "Second"


def test_records_never_show_index_only_fields(admin):
    created = make_product(admin)
    patched = admin.patch(f"{PRODUCTS}/{created['id']}", json={"name": "Renamed"}).get_json()
    listed = admin.get(PRODUCTS).get_json()["items"][0]
    assert set(created) == set(patched) == set(listed) == RECORD_FIELDS


# -- delete ---------------------------------------------------------------------------------------

def test_delete_product_without_sales_removes_it_with_a_tombstone(admin, db):
    created = make_product(admin)
    response = admin.delete(f"{PRODUCTS}/{created['id']}")

    assert response.status_code == 204
    assert db.products.count_documents({}) == 0
    assert db.tombstones.find_one({"entity": "products"})["entity_id"] == ObjectId(created["id"])


def test_delete_product_with_sales_is_409_and_keeps_it(admin, db):
    created = make_product(admin)
    customer = admin.post("/api/v1/customers", json={"first_name": "Ann", "email": "ann@mail.example"}).get_json()
    assert admin.post("/api/v1/sales", json={"customer_id": customer["id"], "product_id": created["id"]}).status_code \
        == 201

    assert_error(admin.delete(f"{PRODUCTS}/{created['id']}"), 409, "conflict")
    assert db.products.count_documents({}) == 1
    assert db.tombstones.count_documents({}) == 0


def test_delete_with_a_stale_if_match_is_412(admin, db):
    created = make_product(admin)
    admin.patch(f"{PRODUCTS}/{created['id']}", json={"name": "Second"})
    assert_error(admin.delete(f"{PRODUCTS}/{created['id']}", headers={"If-Match": f'"{created["id"]}-1"'}), 412)
    assert db.products.count_documents({}) == 1
