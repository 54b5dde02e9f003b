"""Dashboard charts (PNG or SVG) of the report's figures, drawn with matplotlib.

matplotlib is imported on the first chart, not with the app. Each request draws its own Figure on
its own Agg canvas (no pyplot, whose global figure state is not thread-safe); the rcParams of
rc_context are process-global, so drawing holds a lock.
"""
import io
import threading
from dataclasses import dataclass

from crm_service.schemas.common import iso_z
from crm_service.schemas.money import money_string, to_decimal

from . import reports

CONTENT_TYPES = {"png": "image/png", "svg": "image/svg+xml"}
SIZE_INCHES = (9, 5)
DPI = 110
BAR_COLOR = "#2f6f9f"
STYLE = {
    # Text stays text in SVG (searchable, selectable, readable by tests), not glyph outlines.
    "svg.fonttype": "none",
    # Stable element ids, so the same figures give the same SVG.
    "svg.hashsalt": "crm-reports",
    "font.family": "DejaVu Sans",
    "font.size": 11,
    "axes.titlesize": 14,
    "axes.titleweight": "bold",
    "axes.labelsize": 12,
}
METADATA = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None}}
_drawing = threading.Lock()


@dataclass(frozen=True)
class Bars:
    """What one bar chart shows: a bar per category, its height and the text printed on it."""

    title: str
    x_label: str
    y_label: str
    categories: list
    heights: list
    labels: list
    counts: bool = True


def _count_bars(title, x_label, y_label, counts):
    categories = list(counts)
    return Bars(title, x_label, y_label, categories, [counts[key] for key in categories],
                [str(counts[key]) for key in categories])


def interactions_by_type(repository, window, currency):
    figures = reports.interaction_figures(repository, window)["interactions"]
    return _count_bars("Interactions by type", "Interaction type", "Interactions (count)", figures["by_type"])


def sales_by_month(repository, window, currency):
    """One currency (amounts in different currencies do not add up): months with sales in it, oldest first."""
    by_month = reports.sales_figures(repository, window)["sales"]["by_month"]
    months = [entry for entry in by_month if currency in entry["totals"]]
    amounts = [entry["totals"][currency] for entry in months]
    return Bars(f"Sales by month ({currency})", "Month (UTC)", f"Amount ({currency})",
                [entry["month"] for entry in months], [float(to_decimal(amount)) for amount in amounts],
                [money_string(amount) for amount in amounts], counts=False)


def pipeline_by_stage(repository, window, currency):
    figures = reports.opportunity_figures(repository, window)["opportunities"]
    return _count_bars("Opportunities created, by current stage", "Stage", "Opportunities (count)",
                       figures["by_stage"])


def tickets_by_status(repository, window, currency):
    figures = reports.ticket_figures(repository, window)["tickets"]
    return _count_bars("Tickets opened, by current status", "Status", "Tickets (count)", figures["by_status"])


def rating_distribution(repository, window, currency):
    figures = reports.feedback_figures(repository, window)["feedback"]
    return _count_bars("Feedback ratings", "Rating (stars, 1-5)", "Feedback (count)", figures["rating_distribution"])


CHARTS = {
    "interactions-by-type": interactions_by_type,
    "sales-by-month": sales_by_month,
    "pipeline-by-stage": pipeline_by_stage,
    "tickets-by-status": tickets_by_status,
    "rating-distribution": rating_distribution,
}


def chart_bars(name, repository, window, currency):
    return CHARTS[name](repository, window, currency)


def _window_text(window):
    return f"{_minute(window.start)} to {_minute(window.end)} UTC (end excluded)"


def _minute(moment):
    """A window bound for people: to the minute, or the whole ISO time when it has seconds."""
    text = iso_z(moment)
    return text[:16].replace("T", " ") if text.endswith(":00.000Z") else text


def render(bars, window, image_format):
    """The chart as PNG or SVG bytes."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator, StrMethodFormatter

    with _drawing, matplotlib.rc_context(STYLE):
        figure = Figure(figsize=SIZE_INCHES, dpi=DPI, layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        positions = list(range(len(bars.categories)))
        drawn = axes.bar(positions, bars.heights, width=0.6, color=BAR_COLOR)
        value_size = 11 if len(positions) <= 8 else 8
        for text, category in zip(axes.bar_label(drawn, labels=bars.labels, padding=3, fontsize=value_size),
                                  bars.categories, strict=True):
            text.set_gid(f"value-{category}")
        crowded = len(positions) > 6
        axes.set_xticks(positions, [str(category) for category in bars.categories],
                        rotation=30 if crowded else 0, ha="right" if crowded else "center")
        axes.set_title(bars.title, loc="left")
        figure.suptitle(_window_text(window), x=0.99, ha="right", fontsize=9, color="#555555")
        axes.set_xlabel(bars.x_label)
        axes.set_ylabel(bars.y_label)
        axes.yaxis.set_major_locator(MaxNLocator(integer=bars.counts))
        axes.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}" if bars.counts else "{x:,.2f}"))
        top = max(bars.heights, default=0)
        axes.set_ylim(0, top * 1.15 if top > 0 else 1)
        axes.spines[["top", "right"]].set_visible(False)
        if not top:
            axes.text(0.5, 0.5, "No data in this window", transform=axes.transAxes, ha="center", va="center",
                      color="#777777", fontsize=13, gid="no-data")
        buffer = io.BytesIO()
        figure.savefig(buffer, format=image_format, metadata=METADATA[image_format])
    return buffer.getvalue()
