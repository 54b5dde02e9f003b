"""`flask crm ...` commands against the real server."""
import pytest

from crm_service.db import INDEXES


def summary(output):
    """{"customers": 300, ...} from the `name: count` lines seed-demo prints last."""
    counts = {}
    for line in output.splitlines():
        name, _, value = line.rpartition(": ")
        if name and value.isdigit():
            counts[name.strip()] = int(value)
    return counts


def seed(app, *options):
    result = app.test_cli_runner().invoke(args=["crm", "seed-demo", "--customers", "300", *options])
    assert result.exit_code == 0, result.output
    return summary(result.output)


def embedded_total(db):
    rows = list(db.customers.aggregate([{"$group": {"_id": None, "n": {"$sum": {"$size": "$interactions"}}}}]))
    return rows[0]["n"]


def test_seed_demo_writes_the_counts_it_reports(app, db):
    counts = seed(app)

    assert counts["customers"] == 300 and db.customers.count_documents({}) == 300
    assert counts["companies"] == 30 and db.companies.count_documents({}) == 30
    assert counts["staff"] == 5 and db.users.count_documents({"role": "sales"}) == 5
    assert counts["interactions"] > 300
    assert embedded_total(db) + db.interaction_archive.count_documents({}) == counts["interactions"]
    assert db.interaction_archive.count_documents({}) == counts["archived_interactions"]


def test_seed_demo_customers_are_listed_and_searchable(app, admin):
    seed(app, "--seed", "3")

    listing = admin.get("/api/v1/customers", query_string={"size": 100})
    searched = admin.get("/api/v1/customers", query_string={"q": "demo.example", "count": "false", "size": 5})

    assert listing.status_code == 200
    assert listing.get_json()["total"] + admin.get(
        "/api/v1/customers", query_string={"is_active": "false"}).get_json()["total"] == 300
    assert len(listing.get_json()["items"]) == 100
    assert searched.status_code == 200 and len(searched.get_json()["items"]) == 5


@pytest.fixture
def small_embed_config(config):
    config.INTERACTION_EMBED_LIMIT = 3
    return config


def test_seed_demo_archives_histories_past_the_embed_limit(small_embed_config, app, db):
    counts = seed(app)

    assert counts["archived_interactions"] > 0
    assert db.interaction_archive.count_documents({}) == counts["archived_interactions"]
    assert db.customers.count_documents({"embedded_count": {"$gt": 3}}) == 0
    over = db.customers.find_one({"archived_count": {"$gt": 0}})
    assert over["embedded_count"] == len(over["interactions"]) == 3
    assert db.interaction_archive.count_documents({"customer_id": over["_id"]}) == over["archived_count"]
    assert min(item["occurred_at"] for item in over["interactions"]) >= max(
        item["occurred_at"] for item in db.interaction_archive.find({"customer_id": over["_id"]}))


def test_ensure_indexes_command_lists_every_collection(app):
    result = app.test_cli_runner().invoke(args=["crm", "ensure-indexes"])

    assert result.exit_code == 0, result.output
    assert [line.split(":")[0] for line in result.output.splitlines()] == list(INDEXES)
