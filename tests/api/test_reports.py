"""GET /reports/summary: every figure against hand-computed expectations, window edges included."""
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from bson import ObjectId

from crm_service.config import TestConfig
from tests.api.interaction_helpers import parse_time
from tests.api.report_helpers import (
    BEFORE,
    CHART_NAMES,
    EMBED_LIMIT,
    FROM,
    INSIDE,
    SUMMARY,
    TO,
    add_customer,
    add_email,
    add_feedback,
    add_interactions,
    add_opportunity,
    add_sale,
    add_ticket,
    get_summary,
)
from tests.conftest import assert_error

LAST = TO - timedelta(milliseconds=1)
ZERO_TYPES = dict.fromkeys(("email", "phone", "meeting", "chat", "in_person", "whatsapp", "sms", "note"), 0)


@pytest.fixture
def config():
    config = TestConfig()
    config.INTERACTION_EMBED_LIMIT = EMBED_LIMIT
    return config


def test_an_empty_database_gives_zeros_and_nulls(admin):
    body = get_summary(admin)

    assert body["from"] == "2024-03-01T00:00:00.000Z"
    assert body["to"] == "2024-04-01T00:00:00.000Z"
    assert body["customers"] == {"total": 0, "new": 0, "by_status": dict.fromkeys(
        ("lead", "prospect", "active", "inactive", "churned"), 0)}
    assert body["interactions"] == {"total": 0, "by_type": ZERO_TYPES}
    assert body["conversion_rate"] is None
    assert body["opportunity_win_rate"] is None
    assert body["tickets"] == {"opened": 0, "resolved": 0, "open_now": 0, "median_hours_to_resolve": None,
                               "by_status": {"open": 0, "in_progress": 0, "resolved": 0, "closed": 0}}
    assert body["sales"] == {"totals": {}, "by_month": []}
    assert body["feedback"] == {"count": 0, "average_rating": None,
                                "rating_distribution": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0}}
    assert body["email"] == {"sent": 0, "open_rate": None}
    assert set(body["charts"]) == set(CHART_NAMES)


def test_customers_are_counted_at_the_window_end_by_current_status(admin, db):
    add_customer(db, FROM - timedelta(days=40), status="active")
    add_customer(db, FROM, status="lead")
    add_customer(db, LAST, status="prospect")
    add_customer(db, INSIDE, status="churned")
    add_customer(db, TO, status="lead")  # created at the (excluded) end
    add_customer(db, INSIDE, status="active", is_active=False)  # soft-deleted

    customers = get_summary(admin)["customers"]

    assert customers == {"total": 4, "new": 3,
                         "by_status": {"lead": 1, "prospect": 1, "active": 1, "inactive": 0, "churned": 1}}


def test_conversion_rate_is_the_share_of_new_leads_and_prospects_now_active(admin, db):
    add_customer(db, FROM, status="active", initial_status="lead")
    add_customer(db, INSIDE, status="active", initial_status="prospect")
    add_customer(db, INSIDE, status="prospect")
    add_customer(db, LAST, status="churned", initial_status="lead")
    add_customer(db, INSIDE, status="lead", legacy=True)
    # Not candidates: created active, created before the window, legacy active (its start is unknown).
    add_customer(db, INSIDE, status="active")
    add_customer(db, BEFORE, status="active", initial_status="lead")
    add_customer(db, INSIDE, status="active", legacy=True)

    assert get_summary(admin)["conversion_rate"] == 0.4


def test_a_lead_won_through_the_api_counts_as_converted(admin, sales):
    lead = admin.post("/api/v1/customers", json={"first_name": "Lina", "email": "lina@example.org"}).get_json()
    admin.post("/api/v1/customers", json={"first_name": "Omar", "email": "omar@example.org"})
    deal = sales.post("/api/v1/opportunities", json={"customer_id": lead["id"], "title": "Desert tour",
                                                     "amount": "900.00", "currency": "MAD", "stage": "proposal"})
    assert deal.status_code == 201, deal.get_json()

    assert get_summary(admin, None)["conversion_rate"] == 0.0
    assert sales.patch(f"/api/v1/opportunities/{deal.get_json()['id']}", json={"stage": "won"}).status_code == 200

    body = get_summary(admin, None)
    assert admin.get(f"/api/v1/customers/{lead['id']}").get_json()["status"] == "active"
    assert body["conversion_rate"] == 0.5
    assert body["opportunity_win_rate"] == 1.0


def test_initial_status_is_neither_shown_nor_writable(admin, db):
    created = admin.post("/api/v1/customers", json={"first_name": "Sara", "email": "sara@example.org",
                                                    "status": "prospect"}).get_json()
    assert db.customers.find_one({"_id": ObjectId(created["id"])})["initial_status"] == "prospect"
    assert "initial_status" not in created

    response = admin.patch(f"/api/v1/customers/{created['id']}", json={"initial_status": "lead"})

    assert_error(response, 422, "validation_error")
    assert db.customers.find_one({"_id": ObjectId(created["id"])})["initial_status"] == "prospect"


def test_interactions_in_the_window_count_the_embedded_and_the_archived(admin, db):
    heavy = add_customer(db, BEFORE)
    add_interactions(db, heavy, [("email", FROM - timedelta(days=2)), ("phone", FROM), ("email", INSIDE),
                                 ("meeting", INSIDE), ("email", LAST), ("chat", TO), ("sms", TO + timedelta(days=1))])
    light = add_customer(db, BEFORE)
    add_interactions(db, light, [("whatsapp", INSIDE), ("note", BEFORE)])
    assert db.interaction_archive.count_documents({"customer_id": ObjectId(heavy)}) == 4

    interactions = get_summary(admin)["interactions"]

    assert interactions == {"total": 5, "by_type": {**ZERO_TYPES, "email": 2, "phone": 1, "meeting": 1,
                                                     "whatsapp": 1}}


def test_an_interaction_caught_mid_archive_is_counted_once(admin, db):
    person = add_customer(db, BEFORE)
    add_interactions(db, person, [("email", INSIDE), ("phone", INSIDE + timedelta(hours=1)),
                                  ("note", INSIDE + timedelta(hours=2))])
    # An interrupted move: one more embedded past the limit, its oldest copied to the archive, not yet pulled.
    oldest = db.customers.find_one({"_id": ObjectId(person)})["interactions"][-1]
    db.customers.update_one({"_id": ObjectId(person)}, {
        "$push": {"interactions": {"id": ObjectId(), "type": "sms", "notes": "n", "status": "completed",
                                   "occurred_at": INSIDE + timedelta(hours=3)}},
        "$inc": {"embedded_count": 1}})
    db.interaction_archive.insert_one({**oldest, "customer_id": ObjectId(person)})

    interactions = get_summary(admin)["interactions"]

    assert interactions == {"total": 4, "by_type": {**ZERO_TYPES, "email": 1, "phone": 1, "note": 1, "sms": 1}}


def test_win_rate_counts_deals_closed_in_the_window(admin, db):
    for closed_at in (FROM, INSIDE, LAST):
        add_opportunity(db, "won", BEFORE, closed_at)
    add_opportunity(db, "lost", INSIDE, INSIDE)
    add_opportunity(db, "won", BEFORE, BEFORE)
    add_opportunity(db, "lost", INSIDE, TO)
    add_opportunity(db, "proposal", INSIDE)
    add_opportunity(db, "prospecting", LAST)

    body = get_summary(admin)

    assert body["opportunity_win_rate"] == 0.75
    assert body["opportunities"] == {
        "created": 4, "won": 3, "lost": 1,
        "by_stage": {"prospecting": 1, "qualification": 0, "proposal": 1, "negotiation": 0, "won": 0, "lost": 2}}


def test_win_rate_with_only_lost_deals_is_zero(admin, db):
    add_opportunity(db, "lost", INSIDE, INSIDE)

    assert get_summary(admin)["opportunity_win_rate"] == 0.0


def test_tickets_opened_resolved_open_now_and_the_median_time_to_resolve(admin, db):
    add_ticket(db, FROM, "open")
    add_ticket(db, INSIDE, "in_progress")
    add_ticket(db, INSIDE, "resolved", INSIDE + timedelta(hours=5))
    add_ticket(db, BEFORE - timedelta(hours=30), "closed", FROM + timedelta(hours=2))
    add_ticket(db, LAST - timedelta(hours=1), "resolved", LAST)
    add_ticket(db, BEFORE, "open")  # open now, opened before
    add_ticket(db, INSIDE, "resolved", TO)  # resolved at the excluded end
    add_ticket(db, TO, "open")

    tickets = get_summary(admin)["tickets"]

    # Resolved in the window: 5 h, 32.000... h (30 h + 1 ms + 2 h), 1 h -> the median is 5 h.
    assert tickets == {"opened": 5, "resolved": 3, "open_now": 4, "median_hours_to_resolve": 5.0,
                       "by_status": {"open": 1, "in_progress": 1, "resolved": 3, "closed": 0}}


def test_the_median_of_an_even_count_is_the_mean_of_the_middle_two(admin, db):
    for hours in (1, 10, 4, 100):
        add_ticket(db, INSIDE, "resolved", INSIDE + timedelta(hours=hours))
    add_ticket(db, INSIDE, "closed", INSIDE + timedelta(minutes=90))

    assert get_summary(admin)["tickets"]["median_hours_to_resolve"] == 4.0
    add_ticket(db, INSIDE, "resolved", INSIDE + timedelta(hours=3, minutes=25))

    assert get_summary(admin)["tickets"]["median_hours_to_resolve"] == 3.71  # (3 h 25 + 4 h) / 2, two decimals


def test_sales_are_totalled_exactly_per_currency_and_month(admin, db):
    for _ in range(30):
        add_sale(db, "0.10", "EUR", INSIDE)
    add_sale(db, "1999.99", "MAD", FROM)
    add_sale(db, "0.01", "MAD", datetime(2024, 3, 31, 23, 59, 59, 999000, tzinfo=UTC))
    add_sale(db, "500.00", "MAD", BEFORE)
    add_sale(db, "700.00", "USD", TO)

    sales = get_summary(admin)["sales"]

    assert sales == {"totals": {"EUR": "3.00", "MAD": "2000.00"},
                     "by_month": [{"month": "2024-03", "totals": {"EUR": "3.00", "MAD": "2000.00"}}]}


def test_sales_over_several_months_are_listed_oldest_first(admin, db):
    add_sale(db, "10.50", "MAD", datetime(2024, 1, 31, 23, 0, tzinfo=UTC))
    add_sale(db, "2.25", "EUR", datetime(2024, 2, 1, 0, 0, tzinfo=UTC))
    add_sale(db, "4.75", "MAD", datetime(2024, 3, 15, tzinfo=UTC))
    add_sale(db, "1.00", "MAD", datetime(2024, 3, 16, tzinfo=UTC))

    sales = get_summary(admin, "from=2024-01-01&to=2024-04-01")["sales"]

    assert sales == {"totals": {"EUR": "2.25", "MAD": "16.25"}, "by_month": [
        {"month": "2024-01", "totals": {"MAD": "10.50"}},
        {"month": "2024-02", "totals": {"EUR": "2.25"}},
        {"month": "2024-03", "totals": {"MAD": "5.75"}},
    ]}


def test_feedback_count_average_and_distribution(admin, db):
    for rating, submitted_at in ((5, FROM), (4, INSIDE), (4, INSIDE), (1, LAST), (2, BEFORE), (3, TO)):
        add_feedback(db, rating, submitted_at)

    feedback = get_summary(admin)["feedback"]

    assert feedback == {"count": 4, "average_rating": 3.5,
                        "rating_distribution": {"1": 1, "2": 0, "3": 0, "4": 2, "5": 1}}


def test_email_sent_and_open_rate_count_mail_sent_in_the_window(admin, db):
    add_email(db, "sent", FROM, open_count=2)
    add_email(db, "sent", INSIDE, open_count=1)
    add_email(db, "sent", LAST)
    add_email(db, "sent", BEFORE, open_count=5)
    add_email(db, "sent", TO, open_count=1)
    add_email(db, "queued", created_at=INSIDE)
    add_email(db, "failed", created_at=INSIDE)

    assert get_summary(admin)["email"] == {"sent": 3, "open_rate": 0.6667}


def test_the_default_window_is_the_last_30_days(admin, db):
    now = datetime.now(UTC)
    add_feedback(db, 5, now - timedelta(days=29, hours=23))
    add_feedback(db, 1, now - timedelta(days=30, minutes=1))
    add_sale(db, "12.00", "MAD", now - timedelta(days=1))

    body = get_summary(admin, None)

    start, end = parse_time(body["from"]), parse_time(body["to"])
    assert end - start == timedelta(days=30)
    assert abs(end - now) < timedelta(minutes=1)
    assert body["feedback"]["count"] == 1 and body["feedback"]["average_rating"] == 5.0
    assert body["sales"]["totals"] == {"MAD": "12.00"}


def test_a_window_with_only_to_starts_30_days_before_it(admin, db):
    add_feedback(db, 4, datetime(2024, 3, 2, tzinfo=UTC))
    add_feedback(db, 2, datetime(2024, 3, 1, 23, 59, tzinfo=UTC))

    body = get_summary(admin, "to=2024-03-31")

    assert body["from"] == "2024-03-01T00:00:00.000Z"
    assert body["feedback"]["count"] == 2


def test_the_earliest_and_latest_times_make_a_window(admin):
    body = get_summary(admin, "from=0001-01-01&to=9999-12-31T23:59:59.999Z")

    assert body["from"] == "0001-01-01T00:00:00.000Z"
    assert body["charts"]["sales-by-month"].endswith("to=9999-12-31T23:59:59.999Z")


def test_full_times_are_accepted_and_normalised_to_utc(admin, db):
    add_feedback(db, 4, datetime(2024, 3, 1, 10, 0, tzinfo=UTC))
    add_feedback(db, 2, datetime(2024, 3, 1, 9, 59, tzinfo=UTC))

    body = get_summary(admin, "from=2024-03-01T12:00:00%2B02:00&to=2024-03-02T00:00:00Z")

    assert body["from"] == "2024-03-01T10:00:00.000Z"
    assert body["feedback"]["count"] == 1


def test_chart_urls_carry_the_same_window(admin):
    charts = get_summary(admin)["charts"]

    for name, url in charts.items():
        parts = urlsplit(url)
        assert parts.path == f"/api/v1/reports/charts/{name}.png"
        assert parse_qs(parts.query) == {"from": ["2024-03-01T00:00:00.000Z"], "to": ["2024-04-01T00:00:00.000Z"]}
    response = admin.get(charts["tickets-by-status"])
    assert response.status_code == 200
    assert response.mimetype == "image/png"


def test_sales_staff_may_read_the_summary(sales):
    assert get_summary(sales)["customers"]["total"] == 0


def test_a_customer_user_may_not_read_the_summary(customer):
    assert_error(customer.get(f"{SUMMARY}"), 403, "forbidden")


def test_the_summary_needs_a_token(anon):
    assert_error(anon.get(SUMMARY), 401, "unauthorized")


@pytest.mark.parametrize("query, field", [
    ("from=2024-04-01&to=2024-03-01", "from"),
    ("from=2024-03-01&to=2024-03-01", "from"),
    ("from=2999-01-01", "from"),
    ("from=yesterday", "from"),
    ("to=2024-02-30", "to"),
    ("from=2024-03-01&from=2024-03-02", "from"),
    ("days=30", "days"),
    ("to=0000-01-01T00:00:00Z", "to"),
    ("to=0001-01-05", "to"),
])
def test_a_bad_window_is_422(admin, query, field):
    body = assert_error(admin.get(f"{SUMMARY}?{query}"), 422, "validation_error")

    assert field in body["errors"]


def test_demo_customers_record_how_they_started(app, db):
    result = app.test_cli_runner().invoke(args=["crm", "seed-demo", "--customers", "40", "--interactions", "2"])
    assert result.exit_code == 0, result.output

    starts = {(row["status"], row["initial_status"]) for row in db.customers.find({}, {"status": 1,
                                                                                     "initial_status": 1})}
    assert db.customers.count_documents({"initial_status": {"$exists": False}}) == 0
    assert ("active", "lead") in starts and ("active", "active") in starts
    assert all(initial == status for status, initial in starts if status in ("lead", "prospect"))
