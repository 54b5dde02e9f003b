"""Monthly sales forecast: exponential smoothing (statsmodels ETS) on complete months of one currency.

History runs from the first month with a sale in the currency to the last complete month (the
current month is still filling up and would read as a slump); months without sales count as 0.
- at least 24 months: Holt-Winters, ETS(A,A,A) — additive error, additive trend, additive 12-month
  season; smoothing weights by maximum likelihood, initial states from the classical decomposition
  of the first two years (statsmodels' "heuristic"), which is far steadier than estimating 14 initial
  states from a few dozen points;
- 6 to 23 months: Holt's linear trend, ETS(A,A,N), all by maximum likelihood;
- fewer than 6: no forecast (422 with the reason).
Intervals are the model's analytic 80% prediction intervals, widened by sqrt(n / (n - p)) for the p
estimated parameters (the ML variance estimate is biased low on short series). Amounts and bounds
below 0 are reported as 0: sales are never negative.
"""
import math
import warnings
from datetime import UTC, datetime
from decimal import Decimal

from crm_service.errors import invalid
from crm_service.repositories.analytics import AnalyticsRepository
from crm_service.schemas.money import CENT

MIN_MONTHS = 6
# Far beyond any real monthly total (a sale is at most 10^12): a model that got here has run away.
RUNAWAY = 1e18
SEASONAL_MONTHS = 24
SEASON = 12
INTERVAL = 0.8
METHODS = {
    "holt-winters": "Holt-Winters exponential smoothing, ETS(A,A,A): additive trend and 12-month additive season",
    "holt": "Holt's linear trend, ETS(A,A,N): additive trend, no season (less than 24 months of history)",
}


def month_start(year, month):
    return datetime(year, month, 1, tzinfo=UTC)


def add_months(year, month, count):
    index = year * 12 + (month - 1) + count
    return index // 12, index % 12 + 1


def months_between(first, last):
    """Months from `first` to `last` inclusive, each (year, month)."""
    count = (last[0] - first[0]) * 12 + last[1] - first[1] + 1
    return [add_months(*first, offset) for offset in range(max(0, count))]


def forecast_series(values, horizon, interval=INTERVAL):
    """(method, [(mean, lower, upper)]) for the `horizon` months after `values` (floats, oldest first)."""
    import numpy
    import pandas
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    size = len(values)
    if size < MIN_MONTHS:
        raise ValueError(f"at least {MIN_MONTHS} values are needed")
    method = "holt-winters" if size >= SEASONAL_MONTHS else "holt"
    # A monthly PeriodIndex: statsmodels' predictions need an index (and this one carries the frequency).
    series = pandas.Series(numpy.asarray(values, dtype=float),
                           index=pandas.period_range("2000-01", periods=size, freq="M"))
    if method == "holt-winters":
        model = ETSModel(series, error="add", trend="add", seasonal="add", seasonal_periods=SEASON,
                         initialization_method="heuristic")
    else:
        model = ETSModel(series, error="add", trend="add")
    with warnings.catch_warnings():
        # Flat or short series make the optimiser warn (ConvergenceWarning, log of 0): the fit is still used.
        warnings.simplefilter("ignore")
        fitted = model.fit(disp=False)
        frame = fitted.get_prediction(start=size, end=size + horizon - 1).summary_frame(alpha=1 - interval)
    parameters = len(fitted.params)
    widen = math.sqrt(size / (size - parameters)) if size > parameters else 1.0
    points = []
    for mean, upper in zip(frame["mean"].to_numpy(), frame["pi_upper"].to_numpy(), strict=True):
        mean, half = float(mean), (float(upper) - float(mean)) * widen
        if not (math.isfinite(mean) and math.isfinite(half)) or abs(mean) + abs(half) > RUNAWAY:
            raise invalid(None, "The sales history could not be fitted by the forecasting model.")
        points.append((max(0.0, mean), max(0.0, mean - half), max(0.0, mean + half)))
    return method, points


def _money(value):
    return Decimal(repr(value)).quantize(CENT)


def sales_forecast(db, currency, months, now):
    """The forecast answer: monthly sales in `currency` for `months` months from the current one."""
    current = (now.year, now.month)
    totals = AnalyticsRepository(db).monthly_sales(currency, month_start(*current))
    last = add_months(*current, -1)
    history = months_between(min(totals), last) if totals else []
    if len(history) < MIN_MONTHS:
        since = f" ({history[0][0]:04d}-{history[0][1]:02d} to {last[0]:04d}-{last[1]:02d})" if history else ""
        raise invalid(None, f"Not enough sales history in {currency} to forecast: {len(history)} complete "
                            f"months{since}; at least {MIN_MONTHS} are needed.")
    method, points = forecast_series([float(totals.get(month, 0)) for month in history], months)
    return {
        "method": method,
        "method_description": METHODS[method],
        "currency": currency,
        "history_months": len(history),
        "history_from": f"{history[0][0]:04d}-{history[0][1]:02d}",
        "history_to": f"{last[0]:04d}-{last[1]:02d}",
        "interval": INTERVAL,
        "forecast": [
            {"month": "{:04d}-{:02d}".format(*add_months(*current, offset)),
             "amount": _money(mean), "lower": _money(lower), "upper": _money(upper)}
            for offset, (mean, lower, upper) in enumerate(points)
        ],
    }
