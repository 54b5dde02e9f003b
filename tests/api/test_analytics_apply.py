"""POST /analytics/segmentation/apply and the customer_ids criterion it saves clusters with."""
from datetime import timedelta
from decimal import Decimal

import pytest
from bson import ObjectId

from crm_service.repositories.base import utcnow
from crm_service.schemas.segments import MAX_CUSTOMER_IDS
from crm_service.services import segmentation
from tests.api.analytics_helpers import APPLY, put_customer, put_sale, seed_groups
from tests.conftest import assert_error

SEGMENTS = "/api/v1/segments"


@pytest.fixture
def now(monkeypatch):
    moment = utcnow()
    monkeypatch.setattr("crm_service.api.analytics.utcnow", lambda: moment)
    return moment


@pytest.fixture
def groups(db, now):
    return seed_groups(db, now)


def live_members(api, segment_id):
    ids, cursor = [], None
    while True:
        response = api.get(f"{SEGMENTS}/{segment_id}/customers?size=100" + (f"&cursor={cursor}" if cursor else ""))
        assert response.status_code == 200, response.get_json()
        page = response.get_json()
        ids += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            return set(ids)


def test_admin_saves_each_cluster_as_a_segment_whose_live_members_are_the_cluster(admin, db, groups, now):
    response = admin.post(APPLY, json={})
    assert response.status_code == 201, response.get_json()
    segments = response.get_json()["segments"]
    expected = segmentation.segment(db, "MAD", now)["clusters"]
    assert [segment["name"] for segment in segments] == [f"RFM: {cluster.label}" for cluster in expected]
    for segment, cluster in zip(segments, expected, strict=True):
        members = {str(oid) for oid in cluster.members}
        assert segment["customer_count"] == cluster.size == len(members)
        assert set(segment["criteria"]["customer_ids"]) == members
        assert live_members(admin, segment["id"]) == members
        assert f"{cluster.size} customers" in segment["description"]
    assert {member for segment in segments for member in segment["criteria"]["customer_ids"]} == {
        str(oid) for ids in groups.values() for oid in ids}
    assert db.segments.count_documents({}) == 3


def test_k_and_name_prefix_are_honoured(admin, groups):
    response = admin.post(APPLY, json={"k": 2, "name_prefix": "Spring 2025 / "})
    assert response.status_code == 201, response.get_json()
    names = [segment["name"] for segment in response.get_json()["segments"]]
    assert len(names) == 2 and all(name.startswith("Spring 2025 / ") for name in names)


def test_membership_stays_live(admin, db, groups):
    segments = admin.post(APPLY, json={}).get_json()["segments"]
    champions = segments[0]
    leaving = champions["criteria"]["customer_ids"][0]
    db.customers.update_one({"_id": ObjectId(leaving)}, {"$set": {"is_active": False}})
    assert leaving not in live_members(admin, champions["id"])
    recounted = admin.post(f"{SEGMENTS}/{champions['id']}/recalculate").get_json()
    assert recounted["customer_count"] == champions["customer_count"] - 1


def test_a_name_clash_is_409_and_saves_nothing(admin, db, groups):
    first = admin.post(APPLY, json={"k": 3}).get_json()["segments"]
    # Only the last cluster's name clashes: the first two would be new, and must not stay behind.
    clash = admin.post(SEGMENTS, json={"name": "Again: " + first[-1]["name"].removeprefix("RFM: ")})
    assert clash.status_code == 201
    before = sorted(row["name"] for row in db.segments.find())
    body = assert_error(admin.post(APPLY, json={"k": 3, "name_prefix": "again: "}), 409, "conflict")
    assert "name_prefix" in body["errors"]
    assert sorted(row["name"] for row in db.segments.find()) == before


def test_sales_and_customers_may_not_apply(sales, customer, anon, db, groups):
    assert_error(sales.post(APPLY, json={}), 403, "forbidden")
    assert_error(customer.post(APPLY, json={}), 403, "forbidden")
    assert_error(anon.post(APPLY, json={}), 401, "unauthorized")
    assert db.segments.count_documents({}) == 0


@pytest.mark.parametrize("body", [{"k": 1}, {"k": 11}, {"k": "3"}, {"name_prefix": "x" * 61}, {"colour": "red"},
                                  {"currency": "euro"}])
def test_bad_bodies_are_422_and_save_nothing(admin, db, groups, body):
    assert_error(admin.post(APPLY, json=body), 422, "validation_error")
    assert db.segments.count_documents({}) == 0


def test_too_little_data_is_422_and_saves_nothing(admin, db, now):
    for days in range(4):
        put_customer(db, now, days_ago=days, interactions=2)
    body = assert_error(admin.post(APPLY, json={}), 422, "validation_error")
    assert "Not enough data" in body["message"]
    assert db.segments.count_documents({}) == 0


def test_a_cluster_too_big_to_list_is_422(admin, db, groups, monkeypatch):
    monkeypatch.setattr(segmentation, "MAX_MEMBERS", 7)
    body = assert_error(admin.post(APPLY, json={}), 422, "validation_error")
    assert "at most 7 customers" in body["message"]
    assert db.segments.count_documents({}) == 0


def test_apply_is_documented(client):
    operation = client.get("/openapi.json").get_json()["paths"]["/api/v1/analytics/segmentation/apply"]["post"]
    assert {"201", "403", "409", "422"} <= set(operation["responses"])
    assert "customer_ids" in operation["description"]


# -- the customer_ids criterion, usable by any segment ------------------------------------------------------------


def test_a_segment_may_list_its_customers(sales, db, now):
    chosen = [put_customer(db, now, 1, 1) for _ in range(3)]
    put_customer(db, now, 1, 1)
    gone = put_customer(db, now, 1, 1, active=False)
    ids = [str(oid) for oid in chosen] + [str(gone), str(ObjectId())]
    response = sales.post(SEGMENTS, json={"name": "Hand-picked", "criteria": {"customer_ids": ids}})
    assert response.status_code == 201, response.get_json()
    segment = response.get_json()
    assert segment["customer_count"] == 3
    assert segment["criteria"] == {"customer_ids": ids}
    assert live_members(sales, segment["id"]) == {str(oid) for oid in chosen}
    preview = sales.post(f"{SEGMENTS}/preview", json={"criteria": {"customer_ids": ids[:2]}}).get_json()
    assert preview == {"customer_count": 2}


def test_customer_ids_combine_with_min_total_sales(sales, db, now):
    rich, poor, outsider = (put_customer(db, now, 1, 1) for _ in range(3))
    put_sale(db, rich, now - timedelta(days=1), Decimal("500.00"))
    put_sale(db, outsider, now - timedelta(days=1), Decimal("900.00"))
    criteria = {"customer_ids": [str(rich), str(poor)], "min_total_sales": "100.00"}
    response = sales.post(f"{SEGMENTS}/preview", json={"criteria": criteria})
    assert response.get_json() == {"customer_count": 1}


@pytest.mark.parametrize("ids", [[], ["nope"], [123], "5f0c0c0c0c0c0c0c0c0c0c0c"])
def test_bad_customer_ids_are_422(sales, db, ids):
    body = assert_error(sales.post(SEGMENTS, json={"name": "Bad", "criteria": {"customer_ids": ids}}), 422)
    assert "customer_ids" in body["errors"]["criteria"]
    assert db.segments.count_documents({}) == 0


def test_customer_ids_are_capped(sales, db):
    ids = [str(ObjectId()) for _ in range(MAX_CUSTOMER_IDS + 1)]
    body = assert_error(sales.post(SEGMENTS, json={"name": "Too many", "criteria": {"customer_ids": ids}}), 422)
    assert "customer_ids" in body["errors"]["criteria"]


def test_applied_segments_are_audited_and_a_refused_apply_logs_nothing(admin, db, groups):
    segments = admin.post(APPLY, json={"k": 3}).get_json()["segments"]
    entries = list(db.audit_log.find({"entity": "segments", "action": "create"}))
    assert sorted(str(entry["entity_id"]) for entry in entries) == sorted(segment["id"] for segment in segments)
    assert all(str(entry["actor_id"]) == admin.user["id"] for entry in entries)
    admin.post(SEGMENTS, json={"name": "Again: " + segments[-1]["name"].removeprefix("RFM: ")})
    logged = db.audit_log.count_documents({})
    assert_error(admin.post(APPLY, json={"k": 3, "name_prefix": "again: "}), 409, "conflict")
    assert db.audit_log.count_documents({}) == logged
