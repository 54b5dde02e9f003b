"""Changing, recounting and deleting segments: customer_count and last_calculated stay honest."""
from datetime import UTC, datetime

import pytest
from bson import ObjectId

from tests.api.test_segments import SEGMENTS, make_segment, person, stored
from tests.conftest import assert_error

LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


@pytest.fixture
def segment(sales, admin, db):
    """A segment of active customers (two of them), counted long ago."""
    person(admin, status="active")
    person(admin, status="active")
    person(admin, status="lead")
    created = make_segment(sales, "Active", criteria={"status": ["active"]})
    db.segments.update_one({"_id": ObjectId(created["id"])}, {"$set": {"last_calculated": LONG_AGO}})
    return {**created, "last_calculated": "2020-01-01T00:00:00.000Z"}


def url(segment, suffix=""):
    return f"{SEGMENTS}/{segment['id']}{suffix}"


def test_changing_the_criteria_replaces_them_and_recounts(sales, db, segment):
    response = sales.patch(url(segment), json={"criteria": {"status": ["lead", "prospect"]}})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["criteria"], body["customer_count"], body["version"]) == ({"status": ["lead", "prospect"]}, 1, 2)
    assert body["last_calculated"] == body["updated_at"] != segment["last_calculated"]
    assert stored(db, segment["id"])["criteria"] == {"status": ["lead", "prospect"]}


def test_any_change_recounts(sales, admin, segment):
    person(admin, status="active")
    body = sales.patch(url(segment), json={"description": "Now with notes"}).get_json()
    assert (body["description"], body["customer_count"], body["criteria"]) == (
        "Now with notes", 3, {"status": ["active"]})
    assert body["last_calculated"] != segment["last_calculated"]


def test_renaming_updates_the_name_key(sales, db, segment):
    assert sales.patch(url(segment), json={"name": "Active Ones"}).get_json()["name"] == "Active Ones"
    assert stored(db, segment["id"])["name_key"] == "active ones"


@pytest.mark.parametrize("change, field", [
    ({"name": ""}, "name"), ({"name": None}, "name"), ({"customer_count": 9}, "customer_count"),
    ({"criteria": {"status": ["nobody"]}}, "criteria"), ({"criteria": None}, "criteria"),
    ({"name_key": "x"}, "name_key"),
])
def test_invalid_changes_are_422_and_change_nothing(sales, db, segment, change, field):
    before = stored(db, segment["id"])
    error = assert_error(sales.patch(url(segment), json=change), 422, "validation_error")
    assert set(error["errors"]) == {field}
    assert stored(db, segment["id"]) == before


def test_put_is_not_a_segment_method(sales, db, segment):
    assert_error(sales.put(url(segment), json={"name": "X"}), 405, "method_not_allowed")


def test_a_stale_if_match_is_412_and_changes_nothing(sales, db, segment):
    sales.patch(url(segment), json={"description": "v2"})
    before = stored(db, segment["id"])
    response = sales.patch(url(segment), json={"name": "Late"}, headers={"If-Match": f'"{segment["id"]}-1"'})
    assert_error(response, 412, "precondition_failed")
    assert stored(db, segment["id"]) == before


def test_recalculate_refreshes_the_count_and_answers_the_segment(sales, admin, db, segment):
    newcomer = person(admin, status="active")
    response = sales.post(url(segment, "/recalculate"))
    assert response.status_code == 200
    body = response.get_json()
    assert (body["customer_count"], body["name"], body["criteria"]) == (3, "Active", {"status": ["active"]})
    assert body["last_calculated"] > segment["last_calculated"]
    assert response.headers["ETag"] == f'"{segment["id"]}-{body["version"]}"' != f'"{segment["id"]}-1"'
    admin.delete(f"/api/v1/customers/{newcomer['id']}")
    assert sales.post(url(segment, "/recalculate")).get_json()["customer_count"] == 2
    assert stored(db, segment["id"])["customer_count"] == 2


def test_preview_counts_without_saving(sales, db, segment):
    response = sales.post(f"{SEGMENTS}/preview", json={"criteria": {"status": ["active", "lead"]}})
    assert response.status_code == 200
    assert response.get_json() == {"customer_count": 3}
    assert db.segments.count_documents({}) == 1


@pytest.mark.parametrize("body, errors", [
    ({}, {"criteria": ["Missing data for required field."]}),
    ({"criteria": {"$where": "1"}}, {"criteria": {"$where": ["Unknown field."]}}),
    ({"criteria": {}, "name": "x"}, {"name": ["Unknown field."]}),
])
def test_preview_validates_its_criteria(sales, body, errors):
    error = assert_error(sales.post(f"{SEGMENTS}/preview", json=body), 422, "validation_error")
    assert error["errors"] == errors


def test_preview_checks_the_company(sales):
    response = sales.post(f"{SEGMENTS}/preview", json={"criteria": {"company_id": str(ObjectId())}})
    assert assert_error(response, 422)["errors"] == {"criteria": {"company_id": ["No company with this id."]}}


def test_an_admin_deletes_a_segment_and_leaves_a_tombstone(admin, db, segment):
    assert admin.delete(url(segment)).status_code == 204
    assert stored(db, segment["id"]) is None
    assert db.tombstones.find_one({"entity": "segments"})["entity_id"] == ObjectId(segment["id"])
    assert_error(admin.get(url(segment)), 404, "not_found")


def test_a_stale_if_match_on_delete_is_412(admin, db, segment):
    admin.post(url(segment, "/recalculate"))
    assert_error(admin.delete(url(segment), headers={"If-Match": f'"{segment["id"]}-1"'}), 412)
    assert stored(db, segment["id"]) is not None
