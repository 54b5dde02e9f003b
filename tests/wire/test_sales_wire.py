"""Sales, products and opportunities on a real server: Decimal128 storage and sums, and index-backed lists."""
from datetime import timedelta
from decimal import Decimal

import pytest
from bson import ObjectId
from bson.decimal128 import Decimal128
from pymongo import MongoClient

from crm_service.api.helpers import page_request, sort_of
from crm_service.repositories.base import utcnow
from crm_service.repositories.opportunities import OpportunityRepository
from crm_service.repositories.sales import SaleRepository
from crm_service.schemas.money import to_stored
from crm_service.schemas.opportunities import STAGES, OpportunityListQuerySchema
from crm_service.schemas.sales import SaleListQuerySchema
from tests.wire.test_query_plans_wire import CommandLog, assert_indexed, plan_stages

SEEDED = 120


def post(api, path, body):
    response = api.post(path, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.fixture
def customer_id(admin):
    return post(admin, "/api/v1/customers", {"first_name": "Ann", "email": f"{ObjectId()}@mail.example"})["id"]


# -- money ----------------------------------------------------------------------------------------

def test_sale_amounts_are_stored_as_decimal128_and_read_back_as_decimal_strings(admin, sales, wire_db, customer_id):
    product = post(admin, "/api/v1/products", {"sku": "TREK-1", "name": "Trek", "price": "19.99"})
    sale = post(sales, "/api/v1/sales", {"customer_id": customer_id, "product_id": product["id"], "quantity": 3})

    stored = wire_db.sales.find_one({"_id": ObjectId(sale["id"])})
    assert type(stored["unit_price"]) is Decimal128 and type(stored["amount"]) is Decimal128
    assert (stored["unit_price"], stored["amount"]) == (Decimal128("19.99"), Decimal128("59.97"))
    assert type(wire_db.products.find_one({"_id": ObjectId(product["id"])})["price"]) is Decimal128
    read = sales.get(f"/api/v1/sales/{sale['id']}").get_json()
    assert (read["unit_price"], read["amount"]) == ("19.99", "59.97")


def test_opportunity_amount_round_trips_as_decimal128(sales, wire_db, customer_id):
    created = post(sales, "/api/v1/opportunities", {"customer_id": customer_id, "title": "Deal", "amount": 0.1})

    assert wire_db.opportunities.find_one({"_id": ObjectId(created["id"])})["amount"] == Decimal128("0.10")
    assert sales.get(f"/api/v1/opportunities/{created['id']}").get_json()["amount"] == "0.10"


def test_sale_amounts_sum_exactly_in_a_group_aggregation(admin, sales, wire_db, customer_id):
    for price in ("0.10", "0.20", "0.10", "0.20", "0.10", "0.20"):
        product = post(admin, "/api/v1/products", {"sku": f"P-{ObjectId()}", "name": "Item", "price": price})
        post(sales, "/api/v1/sales", {"customer_id": customer_id, "product_id": product["id"]})

    totals = list(wire_db.sales.aggregate([
        {"$match": {"customer_id": ObjectId(customer_id)}},
        {"$group": {"_id": "$currency", "total": {"$sum": "$amount"}}},
    ]))

    assert len(totals) == 1
    assert type(totals[0]["total"]) is Decimal128
    assert totals[0]["total"].to_decimal() == Decimal("0.90")
    assert 0.1 + 0.2 + 0.1 + 0.2 + 0.1 + 0.2 != 0.9


def test_patch_recomputes_the_stored_amount_on_the_server(admin, sales, wire_db, customer_id):
    product = post(admin, "/api/v1/products", {"sku": "TREK-2", "name": "Trek", "price": "0.10"})
    sale = post(sales, "/api/v1/sales", {"customer_id": customer_id, "product_id": product["id"]})

    response = sales.patch(f"/api/v1/sales/{sale['id']}", json={"quantity": 3})

    assert response.status_code == 200 and response.get_json()["amount"] == "0.30"
    stored = wire_db.sales.find_one({"_id": ObjectId(sale["id"])})
    assert (stored["amount"], stored["version"]) == (Decimal128("0.30"), 2)


# -- query plans ----------------------------------------------------------------------------------

@pytest.fixture
def seeded(app, wire_db):
    """SEEDED sales over 12 customers and 6 products across 120 days, and as many opportunities across stages."""
    customers = [ObjectId() for _ in range(12)]
    products = [ObjectId() for _ in range(6)]
    start = utcnow() - timedelta(days=SEEDED)
    sales_repo, opportunity_repo = SaleRepository(wire_db), OpportunityRepository(wire_db)
    for number in range(SEEDED):
        sales_repo.create({
            "customer_id": customers[number % 12], "product_id": products[number % 6], "quantity": 1 + number % 3,
            "unit_price": to_stored("9.99"), "currency": "MAD", "sale_date": start + timedelta(days=number),
            "employee_id": ObjectId(),
        })
        opportunity_repo.create({
            "customer_id": customers[number % 12], "title": f"Deal {number}", "amount": to_stored("100"),
            "currency": "MAD", "stage": STAGES[number % 4], "owner_id": ObjectId(),
            "expected_close_date": (start + timedelta(days=number)).date().isoformat(),
        }, ObjectId())
    return {"customers": customers, "start": start}


@pytest.fixture
def plans(mongo_uri, database_name, seeded):
    """plans(read) runs read(db) through a listened client and answers [(collection, stages)] per command."""
    log = CommandLog()
    client = MongoClient(mongo_uri, tz_aware=True, event_listeners=[log])
    listened = client[database_name]

    def explain_all(read):
        log.commands.clear()
        read(listened)
        results = []
        for command in list(log.commands):
            name = next(iter(command))
            sent = {key: value for key, value in command.items() if not key.startswith("$") and key != "lsid"}
            results.append((command[name], plan_stages(listened.command("explain", sent, verbosity="queryPlanner"))))
        return results

    yield explain_all
    client.close()


def sale_list(**params):
    """The sales list exactly as the view runs it for these query parameters (without the count)."""
    schema = SaleListQuerySchema()
    query = schema.load({**params, "count": "false"})
    return lambda db: SaleRepository(db).list(query, sort_of(query, schema), page_request(query))


def opportunity_list(**params):
    schema = OpportunityListQuerySchema()
    query = schema.load({**params, "count": "false"})
    return lambda db: OpportunityRepository(db).list(query, sort_of(query, schema), page_request(query))


def only(results, collection):
    found = [stages for name, stages in results if name == collection]
    assert len(found) == 1, results
    return found[0]


def test_sales_list_by_customer_uses_an_index(plans, seeded):
    assert_indexed(only(plans(sale_list(customer_id=str(seeded["customers"][3]))), "sales"))


def test_sales_list_by_date_range_uses_an_index(plans, seeded):
    window = {"from": (seeded["start"] + timedelta(days=30)).isoformat(),
              "to": (seeded["start"] + timedelta(days=60)).isoformat()}
    assert_indexed(only(plans(sale_list(**window)), "sales"))


def test_sales_list_by_customer_and_date_range_uses_an_index(plans, seeded):
    window = {"from": (seeded["start"] + timedelta(days=30)).isoformat()}
    assert_indexed(only(plans(sale_list(customer_id=str(seeded["customers"][5]), **window)), "sales"))


def test_sales_list_default_order_uses_an_index(plans):
    assert_indexed(only(plans(sale_list()), "sales"))


def test_opportunity_list_by_stage_uses_an_index(plans):
    assert_indexed(only(plans(opportunity_list(stage="proposal")), "opportunities"))


def test_opportunity_list_by_stage_in_close_date_order_uses_an_index(plans):
    assert_indexed(only(plans(opportunity_list(stage="negotiation", sort="expected_close_date")), "opportunities"))


def test_opportunity_list_by_closing_window_uses_an_index(plans, seeded):
    after = (seeded["start"] + timedelta(days=10)).date().isoformat()
    assert_indexed(only(plans(opportunity_list(closing_after=after, sort="expected_close_date")), "opportunities"))


def test_the_seeded_lists_return_rows(plans, seeded, wire_db):
    """The plans above are of queries that really find something."""
    customer = seeded["customers"][3]
    assert wire_db.sales.count_documents({"customer_id": customer}) == SEEDED // 12
    assert wire_db.opportunities.count_documents({"stage": "proposal"}) == SEEDED // 4
