"""The forecasting model on synthetic series: a 12-month backtest against the naive forecast, and edge cases."""
import numpy
import pytest

from crm_service.errors import ApiError
from crm_service.services.forecast import add_months, forecast_series, months_between

SEED = 20250601
HISTORY, HOLD_OUT = 48, 12


def synthetic(months, seed=SEED, level=12000.0, slope=120.0, swing=3000.0, noise=500.0):
    """Linear trend + a 12-month sine season + Gaussian noise, with a fixed seed."""
    rng = numpy.random.default_rng(seed)
    index = numpy.arange(months)
    return level + slope * index + swing * numpy.sin(2 * numpy.pi * index / 12) + rng.normal(0, noise, months)


def backtest(series):
    """(model MAE, naive MAE, share of held-out months inside the interval, method)."""
    train, truth = series[:-HOLD_OUT], series[-HOLD_OUT:]
    method, points = forecast_series(list(train), HOLD_OUT)
    means = numpy.array([mean for mean, _, _ in points])
    inside = numpy.mean([lower <= actual <= upper for actual, (_, lower, upper) in zip(truth, points, strict=True)])
    model_mae = float(numpy.mean(numpy.abs(means - truth)))
    naive_mae = float(numpy.mean(numpy.abs(train[-1] - truth)))
    return model_mae, naive_mae, float(inside), method


def test_holt_winters_beats_the_naive_forecast_on_a_seasonal_series():
    model_mae, naive_mae, inside, method = backtest(synthetic(HISTORY))
    print(f"backtest: model MAE {model_mae:.1f}, naive MAE {naive_mae:.1f}, ratio {model_mae / naive_mae:.3f}, "
          f"80% interval covered {inside:.0%} of {HOLD_OUT} months")
    assert method == "holt-winters"
    assert model_mae < 0.5 * naive_mae
    assert inside >= 0.6


@pytest.mark.parametrize("seed", range(5))
def test_the_backtest_holds_for_other_noise_draws(seed):
    model_mae, naive_mae, inside, _ = backtest(synthetic(HISTORY, seed=seed))
    assert model_mae < naive_mae
    assert inside >= 0.5


def test_intervals_contain_the_forecast_and_widen_with_the_horizon():
    _, points = forecast_series(list(synthetic(36)), 12)
    for mean, lower, upper in points:
        assert 0 <= lower <= mean <= upper
    widths = [upper - lower for _, lower, upper in points]
    assert widths[-1] > widths[0]


def test_under_24_months_is_holt_and_follows_the_trend():
    values = [1000 + 50 * index + (20 if index % 2 else -20) for index in range(12)]
    method, points = forecast_series(values, 3)
    assert method == "holt"
    means = [mean for mean, _, _ in points]
    assert means == sorted(means) and 1500 < means[0] < 1700


def test_a_flat_series_forecasts_itself_without_warnings():
    method, points = forecast_series([250.0] * 8, 2)
    assert method == "holt"
    for mean, lower, upper in points:
        assert mean == pytest.approx(250.0, abs=0.01)
        assert lower <= 250.01 and upper >= 249.99


def test_a_collapsing_series_is_floored_at_zero():
    _, points = forecast_series([9000, 7000, 5000, 3000, 1000, 0, 0], 6)
    assert all(value >= 0 for point in points for value in point)


def test_the_same_series_gives_the_same_forecast():
    series = list(synthetic(30))
    assert forecast_series(series, 6) == forecast_series(series, 6)


def test_fewer_than_six_values_are_refused():
    with pytest.raises(ValueError):
        forecast_series([1.0, 2.0, 3.0, 4.0, 5.0], 3)


@pytest.mark.parametrize("value", [float("nan"), 1e20])
def test_a_series_the_model_cannot_fit_or_that_runs_away_is_a_422(value):
    with pytest.raises(ApiError) as caught:
        forecast_series([value] * 8, 2)
    assert caught.value.status == 422


def test_month_arithmetic():
    assert add_months(2024, 12, 1) == (2025, 1)
    assert add_months(2024, 1, -1) == (2023, 12)
    assert add_months(2024, 3, -27) == (2021, 12)
    assert months_between((2023, 11), (2024, 2)) == [(2023, 11), (2023, 12), (2024, 1), (2024, 2)]
    assert months_between((2024, 3), (2024, 2)) == []
