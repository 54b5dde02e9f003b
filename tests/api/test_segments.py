"""Segments: create, read, change, delete; unique names; criteria validated, never raw MongoDB."""
import pytest
from bson import ObjectId
from bson.decimal128 import Decimal128

from crm_service.repositories.base import utcnow
from tests.conftest import assert_error

SEGMENTS = "/api/v1/segments"
CUSTOMERS = "/api/v1/customers"


def person(api, **fields):
    body = {"first_name": "Test", "email": f"{ObjectId()}@mail.example", **fields}
    response = api.post(CUSTOMERS, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def make_segment(api, name="Gold travellers", **fields):
    response = api.post(SEGMENTS, json={"name": name, **fields})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def stored(db, segment_id):
    return db.segments.find_one({"_id": ObjectId(segment_id)})


@pytest.fixture
def people(admin):
    return [
        person(admin, status="active", loyalty_status="gold", region="Souss-Massa", tags=["vip", "family"]),
        person(admin, status="active", loyalty_status="silver", region="Fès-Meknès", tags=["family"]),
        person(admin, status="lead", loyalty_status="gold", region="Souss-Massa"),
    ]


def test_sales_create_a_segment_with_its_count(sales, db, people):
    before = utcnow()
    response = sales.post(SEGMENTS, json={"name": "Gold in the south", "description": "For the spring campaign",
                                          "criteria": {"loyalty_status": ["gold"], "region": ["Souss-Massa"]}})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert response.headers["Location"].endswith(f"{SEGMENTS}/{body['id']}")
    assert response.headers["ETag"] == f'"{body["id"]}-1"'
    assert {key: body[key] for key in ("name", "description", "criteria", "customer_count", "version")} == {
        "name": "Gold in the south", "description": "For the spring campaign",
        "criteria": {"loyalty_status": ["gold"], "region": ["Souss-Massa"]}, "customer_count": 2, "version": 1}
    assert body["last_calculated"] == body["created_at"]
    document = stored(db, body["id"])
    assert document["name_key"] == "gold in the south"
    assert document["criteria"] == {"loyalty_status": ["gold"], "region": ["Souss-Massa"]}
    assert before <= document["last_calculated"] <= utcnow()


def test_empty_criteria_select_every_active_customer(sales, admin, people):
    gone = person(admin)
    admin.delete(f"{CUSTOMERS}/{gone['id']}")
    body = make_segment(sales, "Everyone")
    assert (body["criteria"], body["customer_count"]) == ({}, 3)


@pytest.mark.parametrize("taken", ["gold travellers", "GOLD TRAVELLERS", "Gold  travellers", " Gold travellers "])
def test_names_are_unique_ignoring_case_and_spaces(sales, db, taken):
    make_segment(sales)
    error = assert_error(sales.post(SEGMENTS, json={"name": taken}), 409, "conflict")
    assert error["errors"] == {"name": ["This value is already in use."]}
    assert db.segments.count_documents({}) == 1


def test_renaming_onto_a_taken_name_is_409(sales, db):
    make_segment(sales, "First")
    second = make_segment(sales, "Second")
    assert_error(sales.patch(f"{SEGMENTS}/{second['id']}", json={"name": "FIRST"}), 409, "conflict")
    assert stored(db, second["id"])["name"] == "Second"


@pytest.mark.parametrize("criteria, errors", [
    ({"status": "active"}, {"status": ["Not a valid list."]}),
    ({"status": []}, {"status": ["Length must be between 1 and 50."]}),
    ({"status": ["vip"]}, {"status": {"0": ["Must be one of: lead, prospect, active, inactive, churned."]}}),
    ({"loyalty_status": ["Gold"]}, {"loyalty_status"}),
    ({"contact_type": ["company"]}, {"contact_type"}),
    ({"tags": ["$where"]}, {"tags"}),
    ({"tags_all": [{"$ne": "vip"}]}, {"tags_all"}),
    ({"region": [""]}, {"region"}),
    ({"$where": "1 == 1"}, {"$where": ["Unknown field."]}),
    ({"status": {"$in": ["active"]}}, {"status": ["Not a valid list."]}),
    ({"email": "a@b.c"}, {"email": ["Unknown field."]}),
    ({"min_total_sales": "-1"}, {"min_total_sales"}),
    ({"min_total_sales": "1.001"}, {"min_total_sales": ["At most two decimal places."]}),
    ({"min_total_sales": "100", "currency": "mad"}, {"currency"}),
    ({"currency": "EUR"}, {"currency": ["Only with min_total_sales."]}),
    ({"created_after": "2025-02-01", "created_before": "2025-01-01"},
     {"created_before": ["Must be later than created_after."]}),
    ({"last_interaction_after": "2025-01-01", "last_interaction_before": "2025-01-01"},
     {"last_interaction_before": ["Must be later than last_interaction_after."]}),
    ({"created_after": "soon"}, {"created_after"}),
    ({"company_id": "nope"}, {"company_id": ["Not a valid id."]}),
])
def test_criteria_are_validated(sales, db, criteria, errors):
    error = assert_error(sales.post(SEGMENTS, json={"name": "Bad", "criteria": criteria}), 422, "validation_error")
    assert set(error["errors"]) == {"criteria"}
    if isinstance(errors, set):
        assert set(error["errors"]["criteria"]) == errors
    else:
        assert error["errors"]["criteria"] == errors
    assert db.segments.count_documents({}) == 0


def test_criteria_must_be_an_object(sales, db):
    error = assert_error(sales.post(SEGMENTS, json={"name": "Bad", "criteria": [{"status": "x"}]}), 422)
    assert set(error["errors"]) == {"criteria"}
    assert db.segments.count_documents({}) == 0


def test_an_unknown_company_in_the_criteria_is_422(sales, db):
    error = assert_error(sales.post(SEGMENTS, json={"name": "Acme", "criteria": {"company_id": str(ObjectId())}}),
                         422, "validation_error")
    assert error["errors"] == {"criteria": {"company_id": ["No company with this id."]}}
    assert db.segments.count_documents({}) == 0


@pytest.mark.parametrize("body, field", [
    ({}, "name"), ({"name": ""}, "name"), ({"name": "x" * 201}, "name"), ({"name": "A", "description": "d" * 1001},
                                                                          "description"),
    ({"name": "A", "customer_count": 5}, "customer_count"), ({"name": "A", "last_calculated": "2025-01-01"},
                                                              "last_calculated"),
    ({"name": "A", "is_active": True}, "is_active"),
])
def test_segment_fields_are_validated(sales, db, body, field):
    error = assert_error(sales.post(SEGMENTS, json=body), 422, "validation_error")
    assert set(error["errors"]) == {field}
    assert db.segments.count_documents({}) == 0


def test_min_total_sales_is_stored_as_decimal_with_the_base_currency(sales, db, app):
    body = make_segment(sales, "Big spenders", criteria={"min_total_sales": "1500.5"})
    assert body["criteria"] == {"min_total_sales": "1500.50", "currency": app.config["BASE_CURRENCY"]}
    assert stored(db, body["id"])["criteria"] == {"min_total_sales": Decimal128("1500.50"),
                                                  "currency": app.config["BASE_CURRENCY"]}


def test_time_criteria_are_stored_as_times_and_answered_in_utc(sales, db):
    body = make_segment(sales, "Recent", criteria={"created_after": "2025-03-01",
                                                  "last_interaction_before": "2025-03-02T10:00:00+01:00"})
    assert body["criteria"] == {"created_after": "2025-03-01T00:00:00.000Z",
                                "last_interaction_before": "2025-03-02T09:00:00.000Z"}
    assert stored(db, body["id"])["criteria"]["created_after"].isoformat() == "2025-03-01T00:00:00+00:00"


def test_read_one_segment_with_its_etag(sales):
    created = make_segment(sales)
    response = sales.get(f"{SEGMENTS}/{created['id']}")
    assert response.status_code == 200 and response.get_json() == created
    again = sales.get(f"{SEGMENTS}/{created['id']}", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


@pytest.mark.parametrize("segment_id", [str(ObjectId()), "nope"])
def test_unknown_segments_are_404(sales, segment_id):
    assert_error(sales.get(f"{SEGMENTS}/{segment_id}"), 404, "not_found")
    assert_error(sales.get(f"{SEGMENTS}/{segment_id}/customers"), 404, "not_found")
    assert_error(sales.post(f"{SEGMENTS}/{segment_id}/recalculate"), 404, "not_found")


def test_segments_list_sorted_and_filtered_by_name(sales):
    for name in ("Beta", "alpha", "Gamma", "Alpine"):
        make_segment(sales, name)
    by_name = sales.get(SEGMENTS, query_string={"sort": "name"}).get_json()
    assert [item["name"] for item in by_name["items"]] == ["alpha", "Alpine", "Beta", "Gamma"]
    newest = sales.get(SEGMENTS).get_json()
    assert [item["name"] for item in newest["items"]] == ["Alpine", "Gamma", "alpha", "Beta"]
    found = sales.get(SEGMENTS, query_string={"q": "ALP"}).get_json()
    assert sorted(item["name"] for item in found["items"]) == ["Alpine", "alpha"] and found["total"] == 2
    assert sales.get(SEGMENTS, query_string={"q": "a.*"}).get_json()["items"] == []


def test_segments_list_rejects_unknown_parameters(sales):
    error = assert_error(sales.get(SEGMENTS, query_string={"status": "active"}), 422)
    assert set(error["errors"]) == {"status"}
