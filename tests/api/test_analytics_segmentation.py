"""GET /analytics/segmentation: RFM features, k-means clusters with plain labels, and honest refusals."""
from datetime import timedelta
from decimal import Decimal

import pytest

from crm_service.repositories.base import utcnow
from tests.api.analytics_helpers import GROUPS, SEGMENTATION, put_customer, put_sale, seed_groups
from tests.conftest import assert_error


@pytest.fixture
def now(monkeypatch):
    """One clock for the data and the endpoint, so repeated answers can be compared whole."""
    moment = utcnow()
    monkeypatch.setattr("crm_service.api.analytics.utcnow", lambda: moment)
    return moment


@pytest.fixture
def groups(db, now):
    return seed_groups(db, now)


def mean(values):
    return sum(values) / len(values)


def test_omitted_k_is_chosen_by_silhouette_and_finds_the_three_groups(sales, groups):
    response = sales.get(SEGMENTATION)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["k"] == 3
    assert body["features"] == ["recency_days", "frequency", "monetary"]
    assert body["customer_count"] == 24
    assert body["currency"] == "MAD"
    selection = body["k_selection"]
    assert selection["method"] == "silhouette"
    assert [row["k"] for row in selection["scores"]] == list(range(2, 11))
    best = max(selection["scores"], key=lambda row: row["silhouette"])
    assert best["k"] == 3 and selection["silhouette"] == best["silhouette"]
    assert [cluster["size"] for cluster in body["clusters"]] == [8, 8, 8]
    assert [cluster["label"] for cluster in body["clusters"]] == [
        "Recent, frequent, high-spending (champions)",
        "Recent, occasional, low-spending (newcomers)",
        "Lapsed, occasional, no purchases (hibernating)",
    ]
    assert set(body) >= {"computed_at", "method", "medians"}


def test_centres_are_in_original_units(sales, groups):
    clusters = sales.get(SEGMENTATION).get_json()["clusters"]
    champions, middle, lapsed = (cluster["centre"] for cluster in clusters)
    assert abs(champions["recency_days"] - mean([row[0] for row in GROUPS["champions"]])) < 1
    assert abs(lapsed["recency_days"] - mean([row[0] for row in GROUPS["lapsed"]])) < 1
    # Frequency (interactions + sales) and monetary are averaged in log space: near the groups' means.
    assert 25 < champions["frequency"] < 32
    assert 6 < middle["frequency"] < 9
    assert 5000 < Decimal(champions["monetary"]) < 5500
    assert 250 < Decimal(middle["monetary"]) < 320
    assert lapsed["monetary"] == "0.00"


def test_requested_k_is_used(sales, groups):
    body = sales.get(f"{SEGMENTATION}?k=2").get_json()
    assert body["k"] == 2
    assert body["k_selection"]["method"] == "requested"
    assert body["k_selection"]["scores"] == []
    assert sum(cluster["size"] for cluster in body["clusters"]) == 24


def test_labels_stay_unique_when_clusters_share_a_profile(sales, groups):
    body = sales.get(f"{SEGMENTATION}?k=8").get_json()
    labels = [cluster["label"] for cluster in body["clusters"]]
    assert len(labels) == 8 == len(set(labels))
    assert any(label.endswith(("more recent", "more frequent", "higher-spending", "most recent", "most frequent",
                                "highest-spending")) for label in labels)


def test_repeated_calls_give_the_same_answer(sales, groups):
    first = sales.get(SEGMENTATION).get_json()
    second = sales.get(SEGMENTATION).get_json()
    assert first == second
    assert sales.get(f"{SEGMENTATION}?k=4").get_json() == sales.get(f"{SEGMENTATION}?k=4").get_json()


@pytest.mark.parametrize("k", ["1", "11", "0", "-3", "two", "2.5"])
def test_k_outside_2_to_10_is_422(sales, groups, k):
    body = assert_error(sales.get(f"{SEGMENTATION}?k={k}"), 422, "validation_error")
    assert "k" in body["errors"]


@pytest.mark.parametrize("query", ["?currency=mad", "?currency=EURO", "?size=3", "?k=3&k=4"])
def test_bad_or_unknown_parameters_are_422(sales, groups, query):
    assert_error(sales.get(f"{SEGMENTATION}{query}"), 422, "validation_error")


def test_customers_and_anonymous_callers_cannot_segment(customer, anon, groups):
    assert_error(customer.get(SEGMENTATION), 403, "forbidden")
    assert_error(anon.get(SEGMENTATION), 401, "unauthorized")


def test_admin_may_segment(admin, groups):
    assert admin.get(SEGMENTATION).status_code == 200


def test_too_few_customers_with_activity_is_422_with_the_reason(sales, db, now):
    for days in range(9):
        put_customer(db, now, days_ago=days * 10, interactions=days + 1)
    put_customer(db, now)  # never contacted, never bought: no activity, not counted
    body = assert_error(sales.get(SEGMENTATION), 422, "validation_error")
    assert "9 active customers" in body["message"] and "at least 10" in body["message"]


def test_k_needs_more_customers_than_clusters(sales, db, now):
    for days in range(10):
        put_customer(db, now, days_ago=days, interactions=1 + days)
    assert sales.get(f"{SEGMENTATION}?k=9").status_code == 200
    body = assert_error(sales.get(f"{SEGMENTATION}?k=10"), 422, "validation_error")
    assert "at least 11" in body["message"]


def test_fewer_distinct_profiles_than_k_is_422(sales, db, now):
    for index in range(12):
        put_customer(db, now, days_ago=5 if index % 2 else 90, interactions=3)
    body = assert_error(sales.get(f"{SEGMENTATION}?k=3"), 422, "validation_error")
    assert "2 distinct" in body["errors"]["k"][0]
    answer = sales.get(SEGMENTATION).get_json()
    assert answer["k"] == 2 and [cluster["size"] for cluster in answer["clusters"]] == [6, 6]


def test_identical_customers_cannot_be_segmented(sales, db, now):
    for _ in range(12):
        put_customer(db, now, days_ago=5, interactions=3)
    body = assert_error(sales.get(SEGMENTATION), 422, "validation_error")
    assert "same profile" in body["message"]


def test_no_customers_at_all_is_422(sales):
    assert_error(sales.get(SEGMENTATION), 422, "validation_error")


def test_only_active_customers_with_activity_are_clustered(sales, db, groups, now):
    gone = put_customer(db, now, days_ago=3, interactions=50, active=False)
    put_sale(db, gone, now - timedelta(days=3), Decimal("99999.00"))
    put_customer(db, now)
    body = sales.get(SEGMENTATION).get_json()
    assert body["customer_count"] == 24
    assert [cluster["size"] for cluster in body["clusters"]] == [8, 8, 8]


def test_monetary_counts_one_currency_and_the_parameter_picks_it(sales, db, groups, now):
    for oid in groups["lapsed"]:
        put_sale(db, oid, now - timedelta(days=500), Decimal("7000.00"), currency="EUR")
    mad = sales.get(SEGMENTATION).get_json()
    assert mad["clusters"][-1]["label"].startswith("Lapsed") and mad["clusters"][-1]["centre"]["monetary"] == "0.00"
    eur = sales.get(f"{SEGMENTATION}?currency=EUR").get_json()
    assert eur["currency"] == "EUR"
    spenders = [cluster for cluster in eur["clusters"] if cluster["centre"]["monetary"] != "0.00"]
    assert len(spenders) == 1 and spenders[0]["size"] == 8
    assert Decimal(spenders[0]["centre"]["monetary"]) == Decimal("7000.00")
    # An old sale does not make the lapsed recent, but it does add to their frequency (1 interaction + 1 sale).
    assert spenders[0]["centre"]["recency_days"] > 400
    assert spenders[0]["centre"]["frequency"] == 2.0


def test_the_operation_is_documented(client):
    spec = client.get("/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/analytics/segmentation"]["get"]
    assert "silhouette" in operation["description"] and "log1p" in operation["description"]
    names = {parameter["name"] for parameter in operation["parameters"]}
    assert names == {"k", "currency"}
    assert {"200", "401", "403", "422"} <= set(operation["responses"])
