"""Opportunities: create with defaults, every validation rule, read, change, ETags, delete."""
import pytest
from bson import ObjectId
from bson.decimal128 import Decimal128

from tests.conftest import assert_error, make_staff

OPPORTUNITIES = "/api/v1/opportunities"
RECORD_FIELDS = {"id", "customer_id", "title", "amount", "currency", "stage", "probability", "owner_id",
                 "expected_close_date", "closed_at", "lost_reason", "stage_history", "version", "created_at",
                 "updated_at"}


def make_customer(api, **fields):
    body = {"first_name": "Ann", "email": f"{ObjectId()}@mail.example", **fields}
    response = api.post("/api/v1/customers", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def make_opportunity(api, customer_id, **fields):
    body = {"customer_id": customer_id, "title": "Atlas tour for 12", "amount": "1500.00", **fields}
    response = api.post(OPPORTUNITIES, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.fixture
def customer_id(admin):
    return make_customer(admin)["id"]


# -- create ---------------------------------------------------------------------------------------

def test_create_opportunity_returns_201_with_location_etag_and_full_record(sales, customer_id, db):
    response = sales.post(OPPORTUNITIES, json={
        "customer_id": customer_id, "title": "Desert trip", "amount": "2500.50", "currency": "EUR",
        "stage": "proposal", "expected_close_date": "2025-09-30"})

    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == RECORD_FIELDS
    assert body["customer_id"] == customer_id and body["title"] == "Desert trip"
    assert body["amount"] == "2500.50" and body["currency"] == "EUR"
    assert body["stage"] == "proposal" and body["probability"] == 50
    assert body["expected_close_date"] == "2025-09-30"
    assert body["closed_at"] is None and body["lost_reason"] is None
    assert body["version"] == 1 and body["created_at"] == body["updated_at"]
    assert response.headers["Location"].endswith(f"{OPPORTUNITIES}/{body['id']}")
    assert response.headers["ETag"] == f'"{body["id"]}-1"'
    stored = db.opportunities.find_one({"_id": ObjectId(body["id"])})
    assert stored["amount"] == Decimal128("2500.50")
    assert stored["customer_id"] == ObjectId(customer_id)
    assert stored["expected_close_date"] == "2025-09-30"


def test_create_opportunity_defaults_stage_probability_owner_and_currency(sales, customer_id, app):
    body = make_opportunity(sales, customer_id)

    assert body["stage"] == "prospecting"
    assert body["probability"] == 10
    assert body["owner_id"] == sales.user["id"]
    assert body["currency"] == app.config["BASE_CURRENCY"]
    assert body["expected_close_date"] is None


def test_create_opportunity_records_the_first_stage_in_history(sales, customer_id):
    body = make_opportunity(sales, customer_id, stage="qualification")

    assert body["stage_history"] == [{"stage": "qualification", "at": body["created_at"], "by": sales.user["id"]}]


@pytest.mark.parametrize(("stage", "probability"), [
    ("prospecting", 10), ("qualification", 25), ("proposal", 50), ("negotiation", 75), ("won", 100), ("lost", 0),
])
def test_probability_defaults_by_stage(admin, customer_id, stage, probability):
    assert make_opportunity(admin, customer_id, stage=stage)["probability"] == probability


def test_given_probability_overrides_the_stage_default(admin, customer_id):
    assert make_opportunity(admin, customer_id, stage="proposal", probability=65)["probability"] == 65


def test_created_as_lost_sets_closed_at_and_keeps_the_lost_reason(admin, customer_id):
    body = make_opportunity(admin, customer_id, stage="lost", lost_reason="Chose a competitor")

    assert body["closed_at"] == body["created_at"]
    assert body["lost_reason"] == "Chose a competitor"


def test_owner_may_be_another_active_staff_user(admin, app, customer_id):
    other = make_staff(app, "sales")

    assert make_opportunity(admin, customer_id, owner_id=str(other["_id"]))["owner_id"] == str(other["_id"])


# -- validation -----------------------------------------------------------------------------------

def _rejected(api, db, body, field):
    error = assert_error(api.post(OPPORTUNITIES, json=body), 422, "validation_error")
    assert field in error["errors"], error
    assert db.opportunities.count_documents({}) == 0
    return error


def test_unknown_customer_is_422_on_customer_id(admin, db):
    error = _rejected(admin, db, {"customer_id": str(ObjectId()), "title": "T", "amount": "1"}, "customer_id")
    assert error["errors"]["customer_id"] == ["No customer with this id."]


@pytest.mark.parametrize("missing", ["customer_id", "title", "amount"])
def test_required_fields_are_422_when_missing(admin, db, customer_id, missing):
    body = {"customer_id": customer_id, "title": "T", "amount": "1"}
    del body[missing]
    _rejected(admin, db, body, missing)


def test_inactive_staff_owner_is_422(admin, app, db, customer_id):
    inactive = make_staff(app, "sales", is_active=False)
    body = {"customer_id": customer_id, "title": "T", "amount": "1", "owner_id": str(inactive["_id"])}
    assert _rejected(admin, db, body, "owner_id")["errors"]["owner_id"] == ["Not an active staff user."]


def test_customer_user_as_owner_is_422(admin, db, customer_id, customer):
    body = {"customer_id": customer_id, "title": "T", "amount": "1", "owner_id": customer.user["id"]}
    _rejected(admin, db, body, "owner_id")


@pytest.mark.parametrize("amount", ["12.345", "-1", "abc", 1e20, "NaN", "Infinity", "", True, None, [1]])
def test_invalid_amount_is_422(admin, db, customer_id, amount):
    _rejected(admin, db, {"customer_id": customer_id, "title": "T", "amount": amount}, "amount")


@pytest.mark.parametrize(("field", "value"), [
    ("currency", "eur"), ("currency", "EURO"), ("stage", "closed"), ("probability", 101), ("probability", -1),
    ("probability", 50.5), ("probability", "50x"), ("title", ""), ("title", "x" * 201),
    ("expected_close_date", "2025-02-30"), ("expected_close_date", "30/06/2025"),
    ("expected_close_date", "2025-06-30T10:00:00Z"), ("expected_close_date", "20250630"),
    ("lost_reason", "x" * 1001),
])
def test_invalid_field_values_are_422(admin, db, customer_id, field, value):
    body = {"customer_id": customer_id, "title": "T", "amount": "1", "stage": "lost", field: value}
    _rejected(admin, db, body, field)


@pytest.mark.parametrize("field", ["id", "closed_at", "stage_history", "version", "created_at", "updated_at", "x"])
def test_read_only_and_unknown_fields_are_422(admin, db, customer_id, field):
    _rejected(admin, db, {"customer_id": customer_id, "title": "T", "amount": "1", field: "2025-01-01"}, field)


def test_lost_reason_on_an_open_stage_is_422(admin, db, customer_id):
    body = {"customer_id": customer_id, "title": "T", "amount": "1", "stage": "proposal", "lost_reason": "Price"}
    error = _rejected(admin, db, body, "lost_reason")
    assert error["errors"]["lost_reason"] == ["Only a lost opportunity has a lost reason."]


def test_amount_is_stored_exactly_as_decimal128(admin, db, customer_id):
    body = make_opportunity(admin, customer_id, amount=0.1)

    assert body["amount"] == "0.10"
    assert db.opportunities.find_one({"_id": ObjectId(body["id"])})["amount"] == Decimal128("0.10")


# -- read -----------------------------------------------------------------------------------------

def test_read_opportunity_returns_it_with_etag(sales, customer_id):
    created = make_opportunity(sales, customer_id)
    response = sales.get(f"{OPPORTUNITIES}/{created['id']}")

    assert response.status_code == 200
    assert response.get_json() == created
    assert response.headers["ETag"] == f'"{created["id"]}-1"'


def test_if_none_match_with_current_etag_gives_304(sales, customer_id):
    created = make_opportunity(sales, customer_id)
    response = sales.get(f"{OPPORTUNITIES}/{created['id']}", headers={"If-None-Match": f'"{created["id"]}-1"'})
    assert response.status_code == 304


@pytest.mark.parametrize("opportunity_id", [str(ObjectId()), "not-an-id"])
def test_unknown_or_malformed_id_is_404(sales, opportunity_id):
    assert_error(sales.get(f"{OPPORTUNITIES}/{opportunity_id}"), 404, "not_found")


# -- change ---------------------------------------------------------------------------------------

def test_patch_changes_fields_and_bumps_version(sales, customer_id, db):
    created = make_opportunity(sales, customer_id)
    response = sales.patch(f"{OPPORTUNITIES}/{created['id']}", json={
        "title": "Bigger tour", "amount": "1999.99", "expected_close_date": "2025-12-01"})

    assert response.status_code == 200
    body = response.get_json()
    assert (body["title"], body["amount"], body["expected_close_date"]) == ("Bigger tour", "1999.99", "2025-12-01")
    assert body["version"] == 2 and body["updated_at"] >= created["updated_at"]
    assert body["stage_history"] == created["stage_history"]
    assert response.headers["ETag"] == f'"{created["id"]}-2"'
    assert db.opportunities.find_one({"_id": ObjectId(created["id"])})["amount"] == Decimal128("1999.99")


def test_patch_with_an_empty_body_changes_nothing(sales, customer_id):
    created = make_opportunity(sales, customer_id)
    response = sales.patch(f"{OPPORTUNITIES}/{created['id']}", json={})
    assert response.status_code == 200
    assert response.get_json() == created


@pytest.mark.parametrize(("field", "value"), [
    ("customer_id", None), ("customer_id", "0" * 24), ("owner_id", None), ("amount", "1.001"), ("stage", "done"),
    ("stage_history", []), ("expected_close_date", "tomorrow"),
])
def test_patch_with_an_invalid_value_is_422_and_changes_nothing(sales, customer_id, db, field, value):
    created = make_opportunity(sales, customer_id)
    error = assert_error(sales.patch(f"{OPPORTUNITIES}/{created['id']}", json={field: value}), 422)
    assert field in error["errors"]
    assert db.opportunities.find_one({"_id": ObjectId(created["id"])})["version"] == 1


def test_patch_can_move_the_opportunity_to_another_customer(sales, admin, customer_id):
    created = make_opportunity(sales, customer_id)
    other = make_customer(admin)["id"]
    response = sales.patch(f"{OPPORTUNITIES}/{created['id']}", json={"customer_id": other})
    assert response.status_code == 200 and response.get_json()["customer_id"] == other


def test_patch_with_a_stale_if_match_is_412_and_changes_nothing(sales, customer_id, db):
    created = make_opportunity(sales, customer_id)
    sales.patch(f"{OPPORTUNITIES}/{created['id']}", json={"title": "Second"})
    response = sales.patch(f"{OPPORTUNITIES}/{created['id']}", json={"title": "Third"},
                           headers={"If-Match": f'"{created["id"]}-1"'})

    assert_error(response, 412, "precondition_failed")
    assert db.opportunities.find_one({"_id": ObjectId(created["id"])})["title"] == "Second"


def test_patch_with_the_current_if_match_succeeds(sales, customer_id):
    created = make_opportunity(sales, customer_id)
    response = sales.patch(f"{OPPORTUNITIES}/{created['id']}", json={"title": "Next"},
                           headers={"If-Match": f'"{created["id"]}-1"'})
    assert response.status_code == 200 and response.get_json()["title"] == "Next"


def test_put_is_not_an_update_method_for_opportunities(sales, customer_id):
    created = make_opportunity(sales, customer_id)
    assert_error(sales.put(f"{OPPORTUNITIES}/{created['id']}", json={"title": "X"}), 405, "method_not_allowed")


# -- delete ---------------------------------------------------------------------------------------

def test_delete_removes_it_and_records_a_tombstone(sales, customer_id, db):
    created = make_opportunity(sales, customer_id)
    response = sales.delete(f"{OPPORTUNITIES}/{created['id']}")

    assert response.status_code == 204 and response.get_data() == b""
    assert db.opportunities.count_documents({}) == 0
    assert db.tombstones.find_one({"entity": "opportunities"})["entity_id"] == ObjectId(created["id"])
    assert_error(sales.get(f"{OPPORTUNITIES}/{created['id']}"), 404)


def test_delete_with_a_stale_if_match_is_412_and_keeps_it(sales, customer_id, db):
    created = make_opportunity(sales, customer_id)
    sales.patch(f"{OPPORTUNITIES}/{created['id']}", json={"title": "Second"})
    response = sales.delete(f"{OPPORTUNITIES}/{created['id']}", headers={"If-Match": f'"{created["id"]}-1"'})

    assert_error(response, 412, "precondition_failed")
    assert db.opportunities.count_documents({}) == 1
    assert db.tombstones.count_documents({}) == 0


def test_delete_of_an_unknown_opportunity_is_404(sales):
    assert_error(sales.delete(f"{OPPORTUNITIES}/{ObjectId()}"), 404, "not_found")
