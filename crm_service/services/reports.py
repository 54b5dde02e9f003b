"""The report summary (SPEC §6, §8): each section's figures over a window, computed by the database.

Each `*_figures` function answers one part of the summary from ReportRepository; the charts call
the same functions, so a chart always shows the summary's numbers for the same window.
"""
from dataclasses import dataclass
from datetime import datetime

from crm_service.repositories.reports import ReportRepository
from crm_service.schemas.customers import STATUSES as CUSTOMER_STATUSES
from crm_service.schemas.feedback import RATINGS
from crm_service.schemas.interactions import TYPES as INTERACTION_TYPES
from crm_service.schemas.opportunities import STAGES
from crm_service.schemas.tickets import STATUSES as TICKET_STATUSES

# Customers created as one of these count towards the conversion rate; "converted" means now `active`.
CONVERTIBLE = ("lead", "prospect")


@dataclass(frozen=True)
class Window:
    """[start, end): start included, end excluded."""

    start: datetime
    end: datetime


def rate(part, whole):
    """A fraction 0..1 to four decimals; None with nothing to divide by."""
    return round(part / whole, 4) if whole else None


def with_every_key(counts, keys):
    """{key: count} listing every known key (0 when none), then any other value found, by name."""
    known = {key: counts.get(key, 0) for key in keys}
    extra = {str(key): count for key, count in counts.items() if key not in known and count}
    return {**known, **dict(sorted(extra.items()))}


def customer_figures(repository, window):
    """customers {total, new, by_status} and conversion_rate.

    total/by_status: customers not soft-deleted created before the window's end, by current status;
    new: those created in the window. conversion_rate: of the customers created in the window as a
    lead or prospect, the share that is `active` now (records older than `initial_status` count
    their current status as their initial one).
    """
    rows = repository.customers(window.start, window.end)
    by_status = {}
    for row in rows:
        by_status[row["status"]] = by_status.get(row["status"], 0) + row["total"]
    candidates = [row for row in rows if row["initial_status"] in CONVERTIBLE]
    converted = sum(row["new"] for row in candidates if row["status"] == "active")
    return {
        "customers": {
            "total": sum(row["total"] for row in rows),
            "new": sum(row["new"] for row in rows),
            "by_status": with_every_key(by_status, CUSTOMER_STATUSES),
        },
        "conversion_rate": rate(converted, sum(row["new"] for row in candidates)),
    }


def interaction_figures(repository, window):
    """interactions {total, by_type}: interactions (embedded and archived, any status) that occurred in the window."""
    by_type = with_every_key(repository.interactions_by_type(window.start, window.end), INTERACTION_TYPES)
    return {"interactions": {"total": sum(by_type.values()), "by_type": by_type}}


def ticket_figures(repository, window):
    """tickets {opened, resolved, open_now, median_hours_to_resolve, by_status}."""
    by_status = with_every_key(repository.tickets_opened_by_status(window.start, window.end), TICKET_STATUSES)
    resolved = repository.tickets_resolved(window.start, window.end)
    median = repository.median_hours_to_resolve(window.start, window.end, resolved)
    return {"tickets": {
        "opened": sum(by_status.values()),
        "resolved": resolved,
        "open_now": repository.tickets_open_now(),
        "median_hours_to_resolve": None if median is None else round(median, 2),
        "by_status": by_status,
    }}


def opportunity_figures(repository, window):
    """opportunity_win_rate = won / (won + lost) over deals closed in the window, and opportunities {...}."""
    by_stage = with_every_key(repository.opportunities_created_by_stage(window.start, window.end), STAGES)
    closed = repository.opportunities_closed(window.start, window.end)
    return {
        "opportunity_win_rate": rate(closed["won"], closed["won"] + closed["lost"]),
        "opportunities": {"created": sum(by_stage.values()), "by_stage": by_stage, **closed},
    }


def sales_figures(repository, window):
    """sales {totals: {currency: amount}, by_month: [{month, totals}]}: months with sales only, oldest first."""
    totals, month_rows = repository.sales(window.start, window.end)
    months = {}
    for (year, month), currency, total in month_rows:
        months.setdefault(f"{year:04d}-{month:02d}", {})[currency] = total
    return {"sales": {
        "totals": dict(sorted(totals.items())),
        "by_month": [{"month": month, "totals": dict(sorted(months[month].items()))} for month in sorted(months)],
    }}


def feedback_figures(repository, window):
    """feedback {count, average_rating, rating_distribution} for feedback submitted in the window."""
    count, average, ratings = repository.feedback(window.start, window.end)
    return {"feedback": {
        "count": count,
        "average_rating": round(average, 2) if count else None,
        "rating_distribution": {str(value): ratings.get(value, 0) for value in RATINGS},
    }}


def email_figures(repository, window):
    """email {sent, open_rate}: emails sent in the window, and the share of them opened at least once."""
    sent, opened = repository.emails(window.start, window.end)
    return {"email": {"sent": sent, "open_rate": rate(opened, sent)}}


SECTIONS = (customer_figures, interaction_figures, ticket_figures, opportunity_figures, sales_figures,
            feedback_figures, email_figures)


def summary(db, embed_limit, window):
    """Every figure of GET /reports/summary except the chart URLs (the view adds them)."""
    repository = ReportRepository(db, embed_limit)
    figures = {"from_": window.start, "to": window.end}
    for section in SECTIONS:
        figures.update(section(repository, window))
    return figures
