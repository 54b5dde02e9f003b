"""Analytics: RFM segmentation and the sales forecast (SPEC §6)."""
from flask import Blueprint, current_app, jsonify

from crm_service.auth.decorators import require
from crm_service.db import get_db
from crm_service.repositories.base import utcnow
from crm_service.schemas.analytics import (
    ForecastQuerySchema,
    ForecastSchema,
    SegmentationApplyResultSchema,
    SegmentationApplySchema,
    SegmentationQuerySchema,
    SegmentationSchema,
)
from crm_service.services import audit, forecast, segmentation

from .docs import operation
from .helpers import load_body, load_query, record_response

bp = Blueprint("analytics", __name__, url_prefix="/api/v1/analytics")

segmentation_query_schema = SegmentationQuerySchema()
segmentation_schema = SegmentationSchema()
apply_schema = SegmentationApplySchema()
apply_result_schema = SegmentationApplyResultSchema()
forecast_query_schema = ForecastQuerySchema()
forecast_schema = ForecastSchema()

SEGMENTATION_DESCRIPTION = f"""Active customers with at least one sale or one interaction that happened are
described by three features: `recency_days` (whole days since their latest sale or interaction),
`frequency` (interactions, embedded and archived, plus sales in any currency) and `monetary` (the sum
of their sales in `currency`, default BASE_CURRENCY). The three are log1p-transformed (all are
heavily right-skewed) and standardised, and scikit-learn's KMeans (n_init=10, random_state=0)
clusters them, so the same data always gives the same answer.

When `k` is omitted it is chosen: every k from 2 to min(10, distinct customer profiles, customers - 1)
is fitted and the one with the highest silhouette score wins (the smaller k on a tie); `k_selection`
shows the scores. Each centre is the k-means centre back in original units, and its `label` says in
plain words how it compares with the medians of all clustered customers (recent or lapsed, frequent
or occasional, high- or low-spending, no purchases); clusters sharing a profile are told apart on the
feature where they differ most ("more recent" / "less recent", "2nd most frequent", ...). Clusters
come highest-spending first.

422 with the reason when there is too little data: fewer than {segmentation.MIN_CUSTOMERS} customers
(and fewer than k + 1) with activity, or fewer distinct profiles than k."""

APPLY_DESCRIPTION = f"""Admin only. Runs the segmentation as `GET /analytics/segmentation` does (same `k`
and `currency`) and saves every cluster as a segment named `name_prefix` + label, whose criteria
list the members explicitly (`customer_ids`, at most {segmentation.MAX_MEMBERS}); membership stays
live, so a member later deactivated leaves the segment. All or nothing: if one name is already taken
the answer is 409 and no segment is created."""

FORECAST_DESCRIPTION = f"""Monthly sales totals in one `currency` (default BASE_CURRENCY) from the first month
with a sale to the last complete month (the current month is partial and not used; months without
sales count as 0), forecast for `months` months starting with the current one.

With at least {forecast.SEASONAL_MONTHS} months of history the model is Holt-Winters exponential
smoothing, ETS(A,A,A) with a 12-month season (`method: holt-winters`); with
{forecast.MIN_MONTHS} to {forecast.SEASONAL_MONTHS - 1} months, Holt's linear trend, ETS(A,A,N)
(`method: holt`); with fewer than {forecast.MIN_MONTHS} complete months the answer is 422 with the
reason. `lower`/`upper` bound the model's {int(forecast.INTERVAL * 100)}% prediction interval
(`interval`), widened for the parameters estimated from a short history; amounts and bounds are never
below 0. Deterministic for the same data."""


def _currency(data):
    return data.get("currency") or current_app.config["BASE_CURRENCY"]


def _public(result):
    """The segmentation answer without member ids (they can be thousands)."""
    clusters = [{"label": cluster.label, "size": cluster.size, "centre": cluster.centre}
                for cluster in result["clusters"]]
    return segmentation_schema.dump({**result, "clusters": clusters})


@bp.get("/segmentation")
@require("crm:read:analytics")
@operation("Customers clustered on recency, frequency and monetary value (RFM + k-means)", tags=["analytics"],
           query=SegmentationQuerySchema, response=SegmentationSchema, description=SEGMENTATION_DESCRIPTION)
def get_segmentation():
    query = load_query(segmentation_query_schema)
    result = segmentation.segment(get_db(), _currency(query), utcnow(), query.get("k"))
    return jsonify(_public(result))


@bp.post("/segmentation/apply")
@require("crm:create:analytics", "crm:create:segments")
@operation("Save each RFM cluster as a segment (admin)", tags=["analytics"], body=SegmentationApplySchema,
           response=SegmentationApplyResultSchema, status=201, errors=(409,), description=APPLY_DESCRIPTION)
def apply_segmentation():
    data = load_body(apply_schema)
    _, created = segmentation.apply(get_db(), _currency(data), utcnow(), data.get("k"), data["name_prefix"])
    for document in created:  # only once all of them are saved: a name clash saves (and logs) none
        audit.record("create", "segments", document["_id"], after=document)
    return record_response(apply_result_schema.dump({"segments": created}), 201)


@bp.get("/sales-forecast")
@require("crm:read:analytics")
@operation("Monthly sales forecast with a prediction interval", tags=["analytics"], query=ForecastQuerySchema,
           response=ForecastSchema, description=FORECAST_DESCRIPTION)
def get_sales_forecast():
    query = load_query(forecast_query_schema)
    result = forecast.sales_forecast(get_db(), _currency(query), query["months"], utcnow())
    return jsonify(forecast_schema.dump(result))
