"""What each criterion selects, through preview and the live members list; segment_filter's shape."""
from datetime import UTC, datetime

import pytest
from bson import ObjectId
from bson.decimal128 import Decimal128

from crm_service.repositories.segments import segment_filter
from tests.api.test_segments import SEGMENTS, make_segment, person
from tests.conftest import assert_error

JAN = datetime(2025, 1, 1, tzinfo=UTC)
MAR = datetime(2025, 3, 1, tzinfo=UTC)
JUN = datetime(2025, 6, 1, tzinfo=UTC)


@pytest.fixture
def crowd(admin, db):
    """Five active customers (a..e) and one soft-deleted (z), with known fields and times."""
    company = admin.post("/api/v1/companies", json={"name": "Atlas Tours"}).get_json()
    # letter: status, loyalty_status, region, tags, contact_type, in the company, created_at, last_interaction_at
    rows = {
        "a": ("active", "gold", "Souss-Massa", ["vip", "family"], "individual", False, JAN, JUN),
        "b": ("active", "silver", "Fès-Meknès", ["family"], "corporate", True, MAR, JAN),
        "c": ("lead", "gold", "Souss-Massa", ["vip"], "individual", False, JUN, None),
        "d": ("churned", "new", "souss-massa", [], "corporate", True, JAN, MAR),
        "e": ("prospect", "vip", None, ["vip", "family", "b2b"], "individual", False, MAR, MAR),
        "z": ("active", "gold", "Souss-Massa", ["vip", "family"], "individual", False, JAN, JUN),
    }
    people = {}
    for key, (status, loyalty, region, tags, contact_type, employed, created, last) in rows.items():
        people[key] = person(admin, first_name=key.upper(), last_name=key, status=status, loyalty_status=loyalty,
                             region=region, tags=tags, contact_type=contact_type,
                             company_id=company["id"] if employed else None)
        db.customers.update_one({"_id": ObjectId(people[key]["id"])},
                                {"$set": {"created_at": created, "last_interaction_at": last}})
    admin.delete(f"/api/v1/customers/{people['z']['id']}")
    people["company_id"] = company["id"]
    return people


def selected(api, crowd, criteria):
    """The letters of the customers the criteria select, checked through preview and a saved segment's members."""
    preview = api.post(f"{SEGMENTS}/preview", json={"criteria": criteria})
    assert preview.status_code == 200, preview.get_json()
    segment = make_segment(api, f"S{ObjectId()}", criteria=criteria)
    members = api.get(f"{SEGMENTS}/{segment['id']}/customers", query_string={"sort": "last_name"}).get_json()
    letters = [item["last_name"] for item in members["items"]]
    assert preview.get_json()["customer_count"] == segment["customer_count"] == members["total"] == len(letters)
    return "".join(letters)


@pytest.mark.parametrize("criteria, expected", [
    ({}, "abcde"),
    ({"status": ["active"]}, "ab"),
    ({"status": ["lead", "churned"]}, "cd"),
    ({"loyalty_status": ["gold", "vip"]}, "ace"),
    ({"region": ["Souss-Massa"]}, "ac"),
    ({"region": ["Souss-Massa", "souss-massa"]}, "acd"),
    ({"contact_type": ["corporate"]}, "bd"),
    ({"tags": ["vip", "b2b"]}, "ace"),
    ({"tags_all": ["vip", "family"]}, "ae"),
    ({"tags": ["b2b", "family"], "tags_all": ["vip"]}, "ae"),
    ({"status": ["active", "lead"], "region": ["Souss-Massa"], "tags": ["vip"]}, "ac"),
    ({"created_after": "2025-03-01"}, "bce"),
    ({"created_before": "2025-03-01"}, "ad"),
    ({"created_after": "2025-01-01", "created_before": "2025-06-01T00:00:00.001Z"}, "abcde"),
    ({"last_interaction_after": "2025-03-01"}, "ade"),
    ({"last_interaction_before": "2025-03-01"}, "b"),
    ({"last_interaction_after": "2025-02-01", "last_interaction_before": "2025-05-01"}, "de"),
    ({"loyalty_status": ["platinum"]}, ""),
])
def test_criteria_select(sales, crowd, criteria, expected):
    assert selected(sales, crowd, criteria) == expected


def test_company_id_selects_its_people(sales, crowd):
    assert selected(sales, crowd, {"company_id": crowd["company_id"]}) == "bd"


def sell(db, customer, amount, currency="MAD"):
    db.sales.insert_one({"customer_id": ObjectId(customer["id"]), "product_id": ObjectId(), "quantity": 1,
                         "unit_price": Decimal128(amount), "amount": Decimal128(amount), "currency": currency,
                         "sale_date": JAN, "employee_id": ObjectId(), "version": 1})


def test_min_total_sales_sums_each_customers_sales_exactly_in_the_base_currency(sales, db, crowd):
    sell(db, crowd["a"], "0.10")
    sell(db, crowd["a"], "0.20")
    sell(db, crowd["b"], "0.29")
    sell(db, crowd["c"], "500.00", "EUR")
    sell(db, crowd["z"], "900.00")
    db.sales.insert_one({"customer_id": None, "amount": Decimal128("999.00"), "currency": "MAD"})
    assert selected(sales, crowd, {"min_total_sales": "0.30"}) == "a"
    assert selected(sales, crowd, {"min_total_sales": "0"}) == "ab"


def test_min_total_sales_in_another_currency(sales, db, crowd):
    sell(db, crowd["c"], "250.00", "EUR")
    sell(db, crowd["c"], "250.00", "EUR")
    sell(db, crowd["a"], "10000.00")
    assert selected(sales, crowd, {"min_total_sales": "500", "currency": "EUR"}) == "c"


def test_min_total_sales_combines_with_other_rules(sales, db, crowd):
    for letter in "abc":
        sell(db, crowd[letter], "100.00")
    assert selected(sales, crowd, {"min_total_sales": "100", "status": ["active"]}) == "ab"


def test_members_are_computed_live(sales, admin, crowd):
    segment = make_segment(sales, "Gold", criteria={"loyalty_status": ["gold"]})
    person(admin, loyalty_status="gold", last_name="f")
    body = sales.get(f"{SEGMENTS}/{segment['id']}/customers", query_string={"sort": "last_name"}).get_json()
    assert [item["last_name"] for item in body["items"]] == ["a", "c", "f"]
    assert sales.get(f"{SEGMENTS}/{segment['id']}").get_json()["customer_count"] == 2


def test_members_are_customer_records_like_the_customer_list(sales, crowd):
    segment = make_segment(sales, "Vip", criteria={"tags": ["vip"]})
    members = sales.get(f"{SEGMENTS}/{segment['id']}/customers", query_string={"sort": "last_name"}).get_json()
    listed = sales.get("/api/v1/customers", query_string={"tags": "vip", "sort": "last_name"}).get_json()
    assert members["items"] == listed["items"]
    assert "interactions" not in members["items"][0] and "search_terms" not in members["items"][0]


def test_members_page_and_cursor_like_every_list(sales, crowd):
    segment = make_segment(sales, "All")
    url = f"{SEGMENTS}/{segment['id']}/customers"
    first = sales.get(url, query_string={"size": 2, "sort": "-last_name"}).get_json()
    assert ([item["last_name"] for item in first["items"]], first["total"], first["pages"]) == (["e", "d"], 5, 3)
    second = sales.get(url, query_string={"size": 2, "sort": "-last_name", "cursor": first["next_cursor"]}).get_json()
    assert [item["last_name"] for item in second["items"]] == ["c", "b"] and second["page"] is None
    assert sales.get(url, query_string={"count": "false"}).get_json()["total"] is None


@pytest.mark.parametrize("params, field", [({"status": "active"}, "status"), ({"sort": "email"}, "sort"),
                                           ({"size": "0"}, "size")])
def test_members_reject_bad_parameters(sales, crowd, params, field):
    segment = make_segment(sales, "All")
    error = assert_error(sales.get(f"{SEGMENTS}/{segment['id']}/customers", query_string=params), 422)
    assert set(error["errors"]) == {field}


def test_segment_filter_is_flat_and_always_active_only(db):
    company_id = str(ObjectId())
    query = segment_filter(db, {"status": ["active", "lead"], "tags": ["vip", "b2b"], "tags_all": ["family"],
                                "created_after": JAN, "created_before": JUN, "company_id": company_id})
    assert query == {"is_active": True, "status": {"$in": ["active", "lead"]},
                     "tags": {"$in": ["vip", "b2b"], "$all": ["family"]},
                     "created_at": {"$gte": JAN, "$lt": JUN}, "company_id": ObjectId(company_id)}


def test_segment_filter_writes_a_single_value_as_an_equality(db):
    assert segment_filter(db, {"region": ["Souss-Massa"], "tags_all": ["vip"]}) == {
        "is_active": True, "region": "Souss-Massa", "tags": "vip"}


def test_segment_filter_turns_min_total_sales_into_an_id_list(db):
    buyer = ObjectId()
    db.sales.insert_one({"customer_id": buyer, "amount": Decimal128("10.00"), "currency": "USD"})
    query = segment_filter(db, {"min_total_sales": Decimal128("10.00"), "currency": "USD"})
    assert query == {"is_active": True, "_id": {"$in": [buyer]}}
