"""The `flask crm` commands: ensure-indexes and seed-demo."""
from crm_service.db import INDEXES


def test_ensure_indexes_creates_the_whole_catalogue(app, db):
    result = app.test_cli_runner().invoke(args=["crm", "ensure-indexes"])
    assert result.exit_code == 0, result.output
    for collection, models in INDEXES.items():
        names = set(db[collection].index_information())
        assert {model.document["name"] for model in models} <= names, collection


def test_seed_demo_writes_the_requested_sizes(app, db):
    result = app.test_cli_runner().invoke(
        args=["crm", "seed-demo", "--customers", "120", "--companies", "7", "--staff", "3", "--batch-size", "50"])
    assert result.exit_code == 0, result.output
    assert db.customers.count_documents({}) == 120
    assert db.companies.count_documents({}) == 7
    assert db.users.count_documents({"role": "sales"}) == 3
    assert "customers: 120" in result.output


def test_seed_demo_histories_are_sorted_and_consistent(app, db):
    app.test_cli_runner().invoke(args=["crm", "seed-demo", "--customers", "60", "--interactions", "6"])
    for customer in db.customers.find({}):
        history = customer["interactions"]
        keys = [(item["occurred_at"], item["id"]) for item in history]
        assert keys == sorted(keys, reverse=True)
        assert customer["embedded_count"] == len(history)
        assert customer["interaction_count"] == len(history) + customer["archived_count"]
        done = [item["occurred_at"] for item in history if item["status"] != "scheduled"]
        assert customer["last_interaction_at"] == (max(done) if done else None)
        assert customer["email"] == customer["email"].lower()


def test_seed_demo_staff_can_log_in(app, client):
    app.test_cli_runner().invoke(args=["crm", "seed-demo", "--customers", "5", "--staff", "1"])
    response = client.post("/api/v1/auth/login", json={"username": "sales1", "password": "demo-password"})
    assert response.status_code == 200


def test_seed_demo_is_repeatable_with_the_same_seed(app, db):
    runner = app.test_cli_runner()
    runner.invoke(args=["crm", "seed-demo", "--customers", "20", "--seed", "7"])
    first = sorted(c["email"] for c in db.customers.find({}))
    for name in ("customers", "companies", "users"):
        db[name].delete_many({})
    runner.invoke(args=["crm", "seed-demo", "--customers", "20", "--seed", "7"])
    assert sorted(c["email"] for c in db.customers.find({})) == first
