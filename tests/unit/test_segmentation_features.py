"""RFM inputs from the repositories (mongomock), the features, the labels, and k-means determinism."""
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import mongomock
import pytest
from bson import ObjectId
from bson.decimal128 import Decimal128

from crm_service.repositories.analytics import AnalyticsRepository, CustomerActivity
from crm_service.repositories.customers import CustomerRepository
from crm_service.repositories.interactions import InteractionRepository
from crm_service.services import segmentation

NOW = datetime(2025, 6, 30, 12, tzinfo=UTC)
MEDIANS = {"recency_days": 30.0, "frequency": 5.0, "monetary": Decimal("100.00")}


@pytest.fixture
def db():
    return mongomock.MongoClient(tz_aware=True).crm_unit


def make_customer(db, email, active=True):
    CustomerRepository(db).create({"first_name": "A", "email": email, "tags": [], "is_active": active})
    return db.customers.find_one({"email": email})["_id"]


def sale(db, oid, days_ago, amount, currency="MAD"):
    db.sales.insert_one({"customer_id": oid, "amount": Decimal128(amount), "currency": currency,
                         "sale_date": NOW - timedelta(days=days_ago)})


def note(days_ago, status="completed"):
    return {"type": "note", "notes": "n", "status": status, "occurred_at": NOW - timedelta(days=days_ago)}


def test_activity_counts_interactions_everywhere_and_sales_in_any_currency(db):
    interactions = InteractionRepository(db, embed_limit=2)
    busy, quiet, gone = make_customer(db, "busy@x.org"), make_customer(db, "quiet@x.org"), make_customer(db, "g@x.org")
    for days in (40, 30, 20, 10):  # two of them end up in the archive
        interactions.add(busy, note(days))
    interactions.add(busy, note(-5, status="scheduled"))  # planned: counted, but not as the last contact
    sale(db, busy, 15, "10.10")
    sale(db, busy, 3, "5.05")
    sale(db, busy, 1, "99.00", currency="EUR")
    sale(db, None, 1, "1000.00")  # an erased customer's sale belongs to nobody
    interactions.add(gone, note(1))
    db.customers.update_one({"_id": gone}, {"$set": {"is_active": False}})
    assert db.interaction_archive.count_documents({"customer_id": busy}) == 3

    rows = {row.customer_id: row for row in AnalyticsRepository(db).customer_activity("MAD")}
    assert set(rows) == {busy, quiet}
    assert rows[busy] == CustomerActivity(busy, NOW - timedelta(days=1), 5 + 3, Decimal("15.15"))
    assert rows[quiet] == CustomerActivity(quiet, None, 0, Decimal(0))
    eur = {row.customer_id: row for row in AnalyticsRepository(db).customer_activity("EUR")}
    assert eur[busy].monetary == Decimal("99.00") and eur[busy].frequency == 8


def test_last_activity_is_the_later_of_interaction_and_sale(db):
    oid = make_customer(db, "a@x.org")
    InteractionRepository(db, embed_limit=5).add(oid, note(2))
    sale(db, oid, 9, "1.00")
    (row,) = AnalyticsRepository(db).customer_activity("MAD")
    assert row.last_activity_at == NOW - timedelta(days=2)


def test_features_are_whole_days_and_skip_customers_without_activity():
    rows = [
        CustomerActivity("a", NOW - timedelta(days=3, hours=23), 4, Decimal("12.50")),
        CustomerActivity("b", None, 2, Decimal(0)),
        CustomerActivity("c", NOW + timedelta(days=2), 1, Decimal("1.00")),  # a future-dated sale: today
    ]
    ids, values = segmentation._features(rows, NOW)
    assert ids == ["c", "a"]  # in the order of the values
    assert values == [[0, 1, 1.0], [3, 4, 12.5]]


@pytest.mark.parametrize(("centre", "label"), [
    ((2, 9, "500.00"), "Recent, frequent, high-spending (champions)"),
    ((2, 9, "50.00"), "Recent, frequent, low-spending (loyal regulars)"),
    ((30, 2, "500.00"), "Recent, occasional, high-spending (promising big spenders)"),
    ((10, 1, "0.00"), "Recent, occasional, no purchases (newcomers)"),
    ((300, 9, "500.00"), "Lapsed, frequent, high-spending (at risk)"),
    ((300, 9, "20.00"), "Lapsed, frequent, low-spending (slipping regulars)"),
    ((300, 2, "900.00"), "Lapsed, occasional, high-spending (lapsed big spenders)"),
    ((300, 1, "0.00"), "Lapsed, occasional, no purchases (hibernating)"),
])
def test_labels_compare_the_centre_with_the_medians(centre, label):
    recency, frequency, monetary = centre
    centre = {"recency_days": recency, "frequency": frequency, "monetary": Decimal(monetary)}
    assert segmentation._label(centre, MEDIANS) == label


def test_two_clusters_sharing_a_label_are_told_apart_on_the_feature_they_differ_most():
    clusters = [segmentation.Cluster(label, 1, {}, ["x"], point) for label, point in
                (("A", (0.1, 2.0, 0.0)), ("B", (0.0, 0.0, 0.0)), ("A", (1.9, 2.1, 0.2)))]
    segmentation._unique_labels(clusters)
    assert [cluster.label for cluster in clusters] == ["A, more recent", "B", "A, less recent"]


def test_three_or_more_sharing_a_label_are_ranked():
    clusters = [segmentation.Cluster("A", 1, {}, ["x"], (0.0, 0.0, spend)) for spend in (0.5, 2.0, -1.0, 1.0)]
    segmentation._unique_labels(clusters)
    assert [cluster.label for cluster in clusters] == [
        "A, 3rd highest-spending", "A, highest-spending", "A, 4th highest-spending", "A, 2nd highest-spending"]


def test_segmentation_is_deterministic_and_independent_of_insertion_order(db):
    first, second = mongomock.MongoClient(tz_aware=True).one, mongomock.MongoClient(tz_aware=True).two
    profiles = [(days, count, amount) for days, count, amount in
                [(1, 20, "900.00"), (3, 25, "1200.00"), (2, 18, "800.00"), (90, 4, "80.00"), (120, 3, "60.00"),
                 (100, 5, "90.00"), (400, 1, "0"), (500, 1, "0"), (450, 2, "0"), (70, 6, "150.00"),
                 (5, 30, "2000.00"), (600, 1, "0")]]
    for database, order in ((first, profiles), (second, list(reversed(profiles)))):
        for days, count, amount in order:
            oid = ObjectId()
            database.customers.insert_one({"_id": oid, "is_active": True, "interaction_count": count,
                                           "last_interaction_at": NOW - timedelta(days=days)})
            if amount != "0":
                sale(database, oid, days, amount)
    answers = []
    for database in (first, second, first):
        result = segmentation.segment(database, "MAD", NOW, k=3)
        answers.append([(cluster.label, cluster.size, cluster.centre) for cluster in result["clusters"]])
    assert answers[0] == answers[1] == answers[2]
    assert [size for _, size, _ in answers[0]] == [4, 4, 4]


def test_the_app_starts_without_importing_the_analytics_libraries():
    script = ("import sys, mongomock; from crm_service import create_app; from crm_service.config import TestConfig; "
              "create_app(TestConfig(), mongo_client=mongomock.MongoClient()); "
              "print(sorted(name for name in ('sklearn', 'statsmodels', 'pandas', 'scipy') if name in sys.modules))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                            cwd=Path(__file__).resolve().parents[2], check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_when_most_customers_never_bought_spending_is_judged_against_the_log_scale_mean():
    from crm_service.services.segmentation import _label

    medians = {"recency_days": 23.0, "frequency": 10.0, "monetary": Decimal("0.00"),
               "monetary_reference": Decimal("40.00")}
    few_buyers = {"recency_days": 87.0, "frequency": 3.1, "monetary": Decimal("3.86")}
    buyers = {"recency_days": 14.3, "frequency": 11.4, "monetary": Decimal("8479.98")}
    assert _label(few_buyers, medians).startswith("Lapsed, occasional, low-spending")
    assert _label(buyers, medians).startswith("Recent, frequent, high-spending")
