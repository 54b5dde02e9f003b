"""Reports: the summary figures and the charts (SPEC §6)."""
from flask import Blueprint, Response, current_app, jsonify, url_for

from crm_service.auth.decorators import require
from crm_service.db import get_db
from crm_service.errors import NotFound, invalid
from crm_service.repositories.reports import ReportRepository
from crm_service.schemas.common import iso_z
from crm_service.schemas.reports import ChartQuerySchema, ReportQuerySchema, ReportSummarySchema
from crm_service.services.charts import CHARTS, CONTENT_TYPES, chart_bars, render
from crm_service.services.reports import Window, summary

from .docs import operation
from .helpers import load_query

bp = Blueprint("reports", __name__, url_prefix="/api/v1/reports")

summary_query_schema = ReportQuerySchema()
chart_query_schema = ChartQuerySchema()
summary_schema = ReportSummarySchema()

WINDOW_RULE = ("The window is [`from`, `to`): `from` included, `to` excluded; by default the last 30 days "
               "(`to` now, `from` 30 days before `to`). `from` must be before `to` (422).")
SUMMARY_DESCRIPTION = WINDOW_RULE + """

Figures (all counted by the database):

- `customers.total` / `by_status`: customers not soft-deleted and created before `to`, by current status;
  `customers.new`: of those, created in the window.
- `interactions`: interactions whose `occurred_at` is in the window, whatever their status, from every
  customer's history (embedded and archived), by type.
- `conversion_rate`: of the customers created in the window as a `lead` or `prospect` (their status at
  creation), the share whose status is `active` now. Records stored before the creation status was kept
  count their current status as their creation status (so they never count as converted). Null when no
  lead or prospect was created in the window.
- `opportunity_win_rate`: won / (won + lost) over the opportunities whose `closed_at` (set when a deal
  enters `won` or `lost`) is in the window. Null when none closed.
- `tickets.opened`: created in the window (`by_status`: those by current status); `resolved`: whose
  `resolved_at` is in the window (a reopened ticket is no longer resolved); `open_now`: open or in
  progress now, whenever created; `median_hours_to_resolve`: exact median of `resolved_at - created_at`
  over the tickets resolved in the window (mean of the two middle values for an even count), null when none.
- `opportunities`: created in the window (`by_stage` by current stage); `won`/`lost`: the win rate's terms.
- `sales.totals`: `{currency: amount}` over sales whose `sale_date` is in the window (amounts in different
  currencies are never added together); `by_month`: UTC months `YYYY-MM` with sales, oldest first.
- `feedback`: submitted in the window: `count`, `average_rating` (two decimals, null when none),
  `rating_distribution`.
- `email.sent`: emails with status `sent` and `sent_at` in the window; `open_rate`: the share of them
  opened at least once, null when none sent.
- `charts`: the URL of each chart's PNG for the same window (`.svg` gives the SVG).

Rates are fractions from 0 to 1 with four decimals."""
CHART_DESCRIPTION = WINDOW_RULE + """

Charts: `interactions-by-type`, `sales-by-month`, `pipeline-by-stage`, `tickets-by-status`,
`rating-distribution`; each draws the summary's figures for the same window (interactions.by_type,
sales.by_month, opportunities.by_stage, tickets.by_status, feedback.rating_distribution) with the value
printed on each bar. `sales-by-month` draws one `currency` (default `BASE_CURRENCY`): the months with
sales in it. An unknown chart name is 404."""


def _window(query):
    return Window(query["from_"], query["to"])


def _embed_limit():
    return current_app.config["INTERACTION_EMBED_LIMIT"]


def chart_urls(window):
    bounds = {"from": iso_z(window.start), "to": iso_z(window.end)}
    return {name: url_for("reports.chart_png", name=name, **bounds) for name in CHARTS}


@bp.get("/summary")
@require("crm:read:reports")
@operation("Summary figures over a time window: customers, interactions, conversion, tickets, sales, "
           "feedback, email (staff)", tags=["reports"], query=ReportQuerySchema, response=ReportSummarySchema,
           description=SUMMARY_DESCRIPTION)
def get_summary():
    window = _window(load_query(summary_query_schema))
    figures = summary(get_db(), _embed_limit(), window)
    figures["charts"] = chart_urls(window)
    return jsonify(summary_schema.dump(figures))


def _chart(name, image_format):
    if name not in CHARTS:
        raise NotFound(f"No such chart; charts are: {', '.join(CHARTS)}")
    query = load_query(chart_query_schema)
    if query.get("currency") and name != "sales-by-month":
        raise invalid({"currency": ["Only the sales-by-month chart takes a currency."]}, "Query string is invalid")
    window = _window(query)
    currency = query.get("currency") or current_app.config["BASE_CURRENCY"]
    bars = chart_bars(name, ReportRepository(get_db(), _embed_limit()), window, currency)
    response = Response(render(bars, window, image_format), mimetype=CONTENT_TYPES[image_format])
    response.headers["Content-Disposition"] = f'inline; filename="{name}.{image_format}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/charts/<name>.png")
@require("crm:read:reports")
@operation("A report chart as PNG (staff)", tags=["reports"], query=ChartQuerySchema,
           response_content_type="image/png", errors=(404,), description=CHART_DESCRIPTION)
def chart_png(name):
    return _chart(name, "png")


@bp.get("/charts/<name>.svg")
@require("crm:read:reports")
@operation("A report chart as SVG, its text kept as text (staff)", tags=["reports"], query=ChartQuerySchema,
           response_content_type="image/svg+xml", errors=(404,), description=CHART_DESCRIPTION)
def chart_svg(name):
    return _chart(name, "svg")
