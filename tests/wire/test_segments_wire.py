"""Segments on a real server: member counts equal a brute-force filter, and member reads go through indexes."""
from datetime import timedelta
from decimal import Decimal

import pytest
from bson import ObjectId
from bson.decimal128 import Decimal128

import tests.wire.test_query_plans_wire as query_plans
from crm_service.api.customers import SORT_FIELDS
from crm_service.api.helpers import page_request, sort_of
from crm_service.repositories.base import utcnow
from crm_service.repositories.segments import SegmentRepository, segment_filter
from crm_service.schemas.segments import SegmentListQuerySchema, SegmentMembersQuerySchema
from tests.wire.test_query_plans_wire import assert_indexed, only

# The seeded, command-logging database of the query-plan tests (one per module), and its explain helpers.
seeded_name = query_plans.seeded_name
command_log = query_plans.command_log
listened_db = query_plans.listened_db
plans = query_plans.plans
secantus_gap = query_plans.secantus_gap

members_query_schema = SegmentMembersQuerySchema()
list_query_schema = SegmentListQuerySchema()
SEGMENTS = "/api/v1/segments"


@pytest.fixture(scope="module")
def seeded(listened_db):
    """Sales on the seeded customers: 40 of 100.00 MAD; one 0.10 + 0.20 MAD; one 0.29 MAD; one 500 EUR."""
    customers = list(listened_db.customers.find({}, {"interactions": 0}))
    ids = [row["_id"] for row in customers]
    sales = [{"customer_id": oid, "amount": Decimal128("100.00"), "currency": "MAD"} for oid in ids[:40]]
    sales += [{"customer_id": ids[40], "amount": Decimal128(amount), "currency": "MAD"} for amount in ("0.10", "0.20")]
    sales += [{"customer_id": ids[41], "amount": Decimal128("0.29"), "currency": "MAD"},
              {"customer_id": ids[42], "amount": Decimal128("500.00"), "currency": "EUR"},
              {"customer_id": None, "amount": Decimal128("999.00"), "currency": "MAD"}]
    listened_db.sales.insert_many(sales)
    company_id = next(row["company_id"] for row in customers if row.get("company_id") and row["is_active"])
    # The brute force reads every sale: the demo seeder writes sales of its own too.
    return {"customers": customers, "sales": list(listened_db.sales.find({})), "company_id": company_id}


def totals(sales, currency):
    found = {}
    for sale in sales:
        if sale["customer_id"] is not None and sale["currency"] == currency:
            found[sale["customer_id"]] = found.get(sale["customer_id"], Decimal(0)) + sale["amount"].to_decimal()
    return found


def brute_force(seeded, criteria):
    """Which customers the criteria select, decided in Python from the documents themselves."""
    def holds(row):
        tags = set(row.get("tags") or [])
        checks = [row["is_active"]]
        for rule in ("status", "loyalty_status", "region", "contact_type"):
            if rule in criteria:
                checks.append(row.get(rule) in criteria[rule])
        if "tags" in criteria:
            checks.append(bool(tags & set(criteria["tags"])))
        if "tags_all" in criteria:
            checks.append(set(criteria["tags_all"]) <= tags)
        if "created_after" in criteria:
            checks.append(row["created_at"] >= criteria["created_after"])
        if "last_interaction_before" in criteria:
            checks.append(row["last_interaction_at"] is not None
                          and row["last_interaction_at"] < criteria["last_interaction_before"])
        if "company_id" in criteria:
            checks.append(row.get("company_id") == criteria["company_id"])
        if "min_total_sales" in criteria:
            spent = totals(seeded["sales"], criteria.get("currency", "MAD")).get(row["_id"])
            checks.append(spent is not None and spent >= Decimal(criteria["min_total_sales"]))
        return all(checks)
    return {row["_id"] for row in seeded["customers"] if holds(row)}


def cases(seeded):
    now = utcnow()
    return {
        "all": {},
        "status": {"status": ["active"]},
        "statuses": {"status": ["active", "prospect"]},
        "status-region": {"status": ["active", "lead"], "region": ["Souss-Massa", "Fès-Meknès"]},
        "loyalty-contact": {"loyalty_status": ["gold", "silver", "vip"], "contact_type": ["corporate"]},
        "tags": {"tags": ["vip"]},
        "tags-any": {"tags": ["vip", "b2b"]},
        "tags-all": {"tags_all": ["vip", "family"]},
        "created": {"created_after": now - timedelta(days=180)},
        "dormant": {"last_interaction_before": now - timedelta(days=90), "tags": ["newsletter"]},
        "company": {"company_id": seeded["company_id"]},
        "spenders": {"min_total_sales": "0.30"},
        "spenders-eur": {"min_total_sales": "500", "currency": "EUR"},
    }


@pytest.mark.parametrize("name", ["all", "status", "statuses", "status-region", "loyalty-contact", "tags", "tags-any",
                                  "tags-all", "created", "dormant", "company", "spenders", "spenders-eur"])
def test_member_counts_on_the_server_equal_a_brute_force_filter(listened_db, seeded, name):
    criteria = cases(seeded)[name]
    expected = brute_force(seeded, criteria)
    assert expected or name == "spenders-eur"
    found = {row["_id"] for row in listened_db.customers.find(segment_filter(listened_db, criteria), {"_id": 1})}
    assert found == expected
    assert SegmentRepository(listened_db).count_members(criteria) == len(expected)


def members(criteria, **params):
    """The members list exactly as the view runs it (without the count)."""
    query = members_query_schema.load({**params, "count": "false"})

    def read(db):
        repository = SegmentRepository(db)
        repository.members(criteria, sort_of(query, members_query_schema, SORT_FIELDS), page_request(query))
    return read


def count(criteria):
    return lambda db: SegmentRepository(db).count_members(criteria)


@pytest.mark.parametrize("name", ["all", "status", "tags", "company", "created"])
def test_members_and_counts_use_an_index(plans, seeded, name):
    criteria = cases(seeded)[name]
    assert_indexed(only(plans(members(criteria)), "customers"))
    assert_indexed(only(plans(count(criteria)), "customers"))


@pytest.mark.parametrize("name, gap", [
    ("statuses", "$in of several values next to an equality"),
    ("status-region", "a residual condition (region) next to the indexed status"),
    ("tags-any", "$in of several values next to an equality"),
    ("tags-all", "$all is never index-backed"),
    ("spenders", "_id $in next to is_active"),
])
def test_members_with_several_values_use_an_index(plans, seeded, secantus_gap, name, gap):
    secantus_gap(gap)
    criteria = cases(seeded)[name]
    assert_indexed(only(plans(members(criteria)), "customers"))
    assert_indexed(only(plans(count(criteria)), "customers"))


def segment_list(**params):
    query = list_query_schema.load({**params, "count": "false"})
    return lambda db: SegmentRepository(db).list(query, sort_of(query, list_query_schema, {"name": "name_key"}),
                                                 page_request(query))


@pytest.mark.parametrize("params", [{}, {"sort": "name"}, {"sort": "-customer_count"}, {"q": "gold"}],
                         ids=["default", "name", "count", "q"])
def test_segment_lists_use_an_index(plans, params):
    assert_indexed(only(plans(segment_list(**params)), "segments"))


def test_names_are_unique_on_the_server_ignoring_case(sales, wire_db):
    assert sales.post(SEGMENTS, json={"name": "Gold Travellers"}).status_code == 201
    response = sales.post(SEGMENTS, json={"name": "GOLD travellers"})
    assert response.status_code == 409
    assert response.get_json()["errors"] == {"name": ["This value is already in use."]}
    assert wire_db.segments.count_documents({}) == 1


def test_a_segment_counts_and_lists_its_members_through_the_api(admin, sales, wire_db):
    for status in ("active", "active", "lead"):
        body = {"first_name": "Wire", "email": f"{ObjectId()}@mail.example", "status": status}
        assert admin.post("/api/v1/customers", json=body).status_code == 201
    segment = sales.post(SEGMENTS, json={"name": "Active", "criteria": {"status": ["active"]}}).get_json()
    assert segment["customer_count"] == 2
    listed = sales.get(f"{SEGMENTS}/{segment['id']}/customers").get_json()
    assert listed["total"] == 2 and {item["status"] for item in listed["items"]} == {"active"}
    assert wire_db.segments.find_one({"_id": ObjectId(segment["id"])})["customer_count"] == 2
