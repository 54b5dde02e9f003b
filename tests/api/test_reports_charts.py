"""GET /reports/charts/<name>.png|.svg: real images whose drawn numbers are the summary's figures."""
import io
import xml.etree.ElementTree as ElementTree
from datetime import timedelta

import pytest
from PIL import Image

from crm_service.config import TestConfig
from tests.api.report_helpers import (
    BEFORE,
    CHART_NAMES,
    EMBED_LIMIT,
    FROM,
    INSIDE,
    add_customer,
    add_feedback,
    add_interactions,
    add_opportunity,
    add_sale,
    add_ticket,
    chart_url,
    get_summary,
)
from tests.conftest import assert_error

SVG = "{http://www.w3.org/2000/svg}"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def config():
    config = TestConfig()
    config.INTERACTION_EMBED_LIMIT = EMBED_LIMIT
    config.BASE_CURRENCY = "MAD"
    return config


@pytest.fixture
def seeded(db):
    person = add_customer(db, BEFORE)
    add_interactions(db, person, [("email", FROM), ("email", INSIDE), ("phone", INSIDE), ("note", INSIDE),
                                  ("meeting", INSIDE + timedelta(days=3)), ("email", BEFORE)])
    add_sale(db, "1200.50", "MAD", INSIDE)
    add_sale(db, "0.25", "MAD", INSIDE)
    add_sale(db, "99.99", "EUR", INSIDE)
    add_sale(db, "300.00", "MAD", FROM - timedelta(days=20))
    for stage in ("prospecting", "proposal", "proposal", "won"):
        add_opportunity(db, stage, INSIDE, INSIDE if stage == "won" else None)
    add_ticket(db, INSIDE, "open")
    add_ticket(db, INSIDE, "resolved", INSIDE + timedelta(hours=2))
    add_ticket(db, INSIDE, "resolved", INSIDE + timedelta(hours=4))
    for rating in (5, 5, 4, 1):
        add_feedback(db, rating, INSIDE)


def svg_of(response):
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "image/svg+xml"
    return ElementTree.fromstring(response.data)


def texts(root):
    return ["".join(element.itertext()) for element in root.iter(f"{SVG}text")]


def value_labels(root):
    """{category: printed value} from the groups the chart gives each bar's label (id value-<category>)."""
    return {group.get("id").removeprefix("value-"): "".join(group.itertext()).strip()
            for group in root.iter(f"{SVG}g") if (group.get("id") or "").startswith("value-")}


@pytest.mark.parametrize("name", CHART_NAMES)
def test_png_charts_are_real_images_of_a_readable_size(admin, seeded, name):
    response = admin.get(chart_url(name))

    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert response.data.startswith(PNG_MAGIC)
    image = Image.open(io.BytesIO(response.data))
    image.verify()
    assert image.format == "PNG"
    assert 800 <= image.width <= 2000 and 400 <= image.height <= 1200


def test_interactions_chart_draws_the_summarys_counts(admin, seeded):
    summary = get_summary(admin)["interactions"]["by_type"]

    root = svg_of(admin.get(chart_url("interactions-by-type", "svg")))

    assert value_labels(root) == {kind: str(count) for kind, count in summary.items()}
    assert summary["email"] == 2 and summary["phone"] == 1
    assert {"Interactions by type", "Interaction type", "Interactions (count)"} <= set(texts(root))


def test_sales_chart_draws_the_base_currency_by_month(admin, seeded):
    by_month = get_summary(admin)["sales"]["by_month"]

    root = svg_of(admin.get(chart_url("sales-by-month", "svg")))

    assert value_labels(root) == {entry["month"]: entry["totals"]["MAD"] for entry in by_month}
    assert value_labels(root) == {"2024-03": "1200.75"}
    assert {"Sales by month (MAD)", "Amount (MAD)", "Month (UTC)"} <= set(texts(root))


def test_sales_chart_draws_the_currency_asked_for(admin, seeded):
    root = svg_of(admin.get(chart_url("sales-by-month", "svg", "from=2024-02-01&to=2024-04-01&currency=EUR")))

    assert value_labels(root) == {"2024-03": "99.99"}
    assert "Amount (EUR)" in texts(root)


def test_pipeline_chart_draws_the_summarys_stages(admin, seeded):
    by_stage = get_summary(admin)["opportunities"]["by_stage"]

    root = svg_of(admin.get(chart_url("pipeline-by-stage", "svg")))

    assert value_labels(root) == {stage: str(count) for stage, count in by_stage.items()}
    assert value_labels(root)["proposal"] == "2"
    assert "Opportunities (count)" in texts(root)


def test_tickets_chart_draws_the_summarys_statuses(admin, seeded):
    tickets = get_summary(admin)["tickets"]

    root = svg_of(admin.get(chart_url("tickets-by-status", "svg")))

    labels = value_labels(root)
    assert labels == {status: str(count) for status, count in tickets["by_status"].items()}
    assert sum(int(value) for value in labels.values()) == tickets["opened"] == 3


def test_rating_chart_draws_the_summarys_distribution(admin, seeded):
    feedback = get_summary(admin)["feedback"]

    root = svg_of(admin.get(chart_url("rating-distribution", "svg")))

    labels = value_labels(root)
    assert labels == {"1": "1", "2": "0", "3": "0", "4": "1", "5": "2"}
    assert sum(int(value) for value in labels.values()) == feedback["count"]
    weighted = sum(int(rating) * int(count) for rating, count in labels.items()) / feedback["count"]
    assert round(weighted, 2) == feedback["average_rating"]
    assert {"Feedback ratings", "Rating (stars, 1-5)", "Feedback (count)"} <= set(texts(root))


def test_a_chart_shows_its_window(admin, seeded):
    root = svg_of(admin.get(chart_url("rating-distribution", "svg")))

    assert "2024-03-01 00:00 to 2024-04-01 00:00 UTC (end excluded)" in texts(root)


def test_an_empty_window_says_so(admin, seeded):
    root = svg_of(admin.get(chart_url("sales-by-month", "svg", "from=2020-01-01&to=2020-02-01")))

    assert "No data in this window" in texts(root)
    assert value_labels(root) == {}


def test_charts_are_sent_inline_and_not_cached(admin):
    response = admin.get(chart_url("pipeline-by-stage", "svg"))

    assert response.headers["Content-Disposition"] == 'inline; filename="pipeline-by-stage.svg"'
    assert "no-store" in response.headers["Cache-Control"]


def test_an_unknown_chart_is_404(admin):
    assert_error(admin.get(chart_url("revenue-by-planet")), 404, "not_found")
    assert_error(admin.get(chart_url("rating-distribution", "gif")), 404, "not_found")


@pytest.mark.parametrize("query, field", [
    ("from=2024-04-01&to=2024-03-01", "from"),
    ("from=not-a-date", "from"),
    ("to=2024-13-01", "to"),
    ("colour=red", "colour"),
    ("currency=euro", "currency"),
])
def test_a_bad_chart_query_is_422(admin, query, field):
    body = assert_error(admin.get(chart_url("sales-by-month", "svg", query)), 422, "validation_error")

    assert field in body["errors"]


def test_only_the_sales_chart_takes_a_currency(admin):
    body = assert_error(admin.get(chart_url("rating-distribution", "png", "currency=EUR")), 422, "validation_error")

    assert "currency" in body["errors"]


def test_a_customer_user_may_not_read_charts(customer):
    assert_error(customer.get(chart_url("rating-distribution")), 403, "forbidden")


def test_charts_need_a_token(anon):
    assert_error(anon.get(chart_url("rating-distribution", "svg")), 401, "unauthorized")


def test_sales_staff_may_read_charts(sales):
    assert sales.get(chart_url("interactions-by-type")).status_code == 200


def test_openapi_documents_the_chart_content_types(client):
    paths = client.get("/openapi.json").get_json()["paths"]

    png = paths["/api/v1/reports/charts/{name}.png"]["get"]
    svg = paths["/api/v1/reports/charts/{name}.svg"]["get"]
    assert set(png["responses"]["200"]["content"]) == {"image/png"}
    assert set(svg["responses"]["200"]["content"]) == {"image/svg+xml"}
    assert "404" in png["responses"] and "422" in svg["responses"]
    summary = paths["/api/v1/reports/summary"]["get"]
    assert "conversion_rate" in summary["description"] and "won / (won + lost)" in summary["description"]
