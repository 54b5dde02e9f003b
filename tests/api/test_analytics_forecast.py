"""GET /analytics/sales-forecast: monthly totals, the model by history length, intervals, refusals."""
import math
from datetime import timedelta
from decimal import Decimal

import pytest
from bson import ObjectId

from crm_service.repositories.base import utcnow
from crm_service.services.forecast import add_months
from tests.api.analytics_helpers import FORECAST, put_sale, seed_monthly_sales
from tests.conftest import assert_error


def seasonal(months, base=10000, slope=150, swing=2500):
    """Totals with a trend and a summer peak, oldest first, as decimal strings."""
    return [f"{base + slope * index + swing * math.sin(2 * math.pi * index / 12):.2f}" for index in range(months)]


def month_text(year, month):
    return f"{year:04d}-{month:02d}"


def test_two_years_of_history_get_holt_winters_with_intervals(sales, db):
    seed_monthly_sales(db, seasonal(30))
    response = sales.get(f"{FORECAST}?months=4")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["method"] == "holt-winters"
    assert body["currency"] == "MAD"
    assert body["history_months"] == 30
    assert body["interval"] == 0.8
    now = utcnow()
    assert [row["month"] for row in body["forecast"]] == [
        month_text(*add_months(now.year, now.month, offset)) for offset in range(4)]
    assert body["history_to"] == month_text(*add_months(now.year, now.month, -1))
    for row in body["forecast"]:
        lower, amount, upper = (Decimal(row[key]) for key in ("lower", "amount", "upper"))
        assert Decimal(0) <= lower <= amount <= upper
        assert row["amount"] == f"{amount:.2f}"
        # The series sits between 7,500 and 17,000: the forecast should too.
        assert 7000 < amount < 20000


def test_a_shorter_history_gets_holt(sales, db):
    seed_monthly_sales(db, seasonal(12, swing=0))
    body = sales.get(FORECAST).get_json()
    assert body["method"] == "holt" and body["history_months"] == 12
    assert len(body["forecast"]) == 3
    amounts = [Decimal(row["amount"]) for row in body["forecast"]]
    assert amounts == sorted(amounts)  # a rising trend keeps rising
    # The intervals widen with the horizon.
    widths = [Decimal(row["upper"]) - Decimal(row["lower"]) for row in body["forecast"]]
    assert widths == sorted(widths)


def test_fewer_than_six_complete_months_is_422_with_the_reason(sales, db):
    seed_monthly_sales(db, ["100.00"] * 5)
    body = assert_error(sales.get(FORECAST), 422, "validation_error")
    assert "5 complete months" in body["message"] and "at least 6" in body["message"]


def test_no_sales_is_422(sales):
    body = assert_error(sales.get(FORECAST), 422, "validation_error")
    assert "0 complete months" in body["message"]


def test_months_without_sales_count_as_zero(sales, db):
    now = utcnow()
    for offset in (-8, -1):
        year, month = add_months(now.year, now.month, offset)
        put_sale(db, ObjectId(), now.replace(year=year, month=month, day=3), "900.00")
    body = sales.get(FORECAST).get_json()
    assert body["history_months"] == 8
    assert body["history_from"] == month_text(*add_months(now.year, now.month, -8))


def test_the_current_month_is_not_history(sales, db):
    seed_monthly_sales(db, ["500.00"] * 5)
    put_sale(db, ObjectId(), utcnow() - timedelta(seconds=5), "99999.00")
    assert_error(sales.get(FORECAST), 422, "validation_error")


def test_a_falling_series_never_forecasts_below_zero(sales, db):
    seed_monthly_sales(db, [f"{5000 - 800 * index:.2f}" for index in range(6)] + ["1.00", "1.00"])
    body = sales.get(f"{FORECAST}?months=12").get_json()
    assert len(body["forecast"]) == 12
    for row in body["forecast"]:
        assert Decimal(row["lower"]) >= 0 and Decimal(row["amount"]) >= 0 and Decimal(row["upper"]) >= 0


def test_one_currency_at_a_time(sales, db):
    seed_monthly_sales(db, seasonal(8), currency="EUR")
    seed_monthly_sales(db, ["1.00"] * 3, currency="MAD")
    assert_error(sales.get(FORECAST), 422, "validation_error")
    body = sales.get(f"{FORECAST}?currency=EUR").get_json()
    assert body["currency"] == "EUR" and body["history_months"] == 8


def test_repeated_calls_give_the_same_answer(sales, db):
    seed_monthly_sales(db, seasonal(26))
    assert sales.get(f"{FORECAST}?months=6").get_json() == sales.get(f"{FORECAST}?months=6").get_json()


@pytest.mark.parametrize("query", ["?months=0", "?months=25", "?months=x", "?months=-1", "?currency=usd",
                                   "?horizon=3"])
def test_bad_parameters_are_422(sales, db, query):
    seed_monthly_sales(db, seasonal(10))
    assert_error(sales.get(f"{FORECAST}{query}"), 422, "validation_error")


@pytest.mark.parametrize("months", [1, 24])
def test_months_from_1_to_24(sales, db, months):
    seed_monthly_sales(db, seasonal(10))
    assert len(sales.get(f"{FORECAST}?months={months}").get_json()["forecast"]) == months


def test_customers_and_anonymous_callers_cannot_forecast(customer, anon, admin):
    assert_error(customer.get(FORECAST), 403, "forbidden")
    assert_error(anon.get(FORECAST), 401, "unauthorized")


def test_the_forecast_is_documented(client):
    operation = client.get("/openapi.json").get_json()["paths"]["/api/v1/analytics/sales-forecast"]["get"]
    assert "Holt-Winters" in operation["description"] and "80%" in operation["description"]
    assert {parameter["name"] for parameter in operation["parameters"]} == {"months", "currency"}
