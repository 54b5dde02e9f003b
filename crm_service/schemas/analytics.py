"""Analytics: segmentation and forecast queries, and the shapes of their answers."""
from marshmallow import fields, validate

from .common import StrictSchema, UtcDateTime, text
from .money import Money, currency
from .segments import SegmentSchema

K_FIELD_DESCRIPTION = "Number of clusters, 2 to 10; omitted: chosen by the best silhouette score"


def _k(strict):
    """Strict in a JSON body (a number, not "3"); a query string is text by nature."""
    return fields.Integer(strict=strict, validate=validate.Range(min=2, max=10),
                          metadata={"description": K_FIELD_DESCRIPTION})


def _currency():
    return currency(metadata={"description": "Currency of the sales amounts (default BASE_CURRENCY)"})


class SegmentationQuerySchema(StrictSchema):
    k = _k(strict=False)
    currency = _currency()


class SegmentationApplySchema(StrictSchema):
    k = _k(strict=True)
    currency = _currency()
    name_prefix = text(60, load_default="RFM: ",
                       metadata={"description": "Put before each cluster's label to name its segment "
                                                "(default \"RFM: \")"})


class CentreSchema(StrictSchema):
    recency_days = fields.Float(metadata={"description": "Days since the latest sale or interaction"})
    frequency = fields.Float(metadata={"description": "Interactions plus sales"})
    monetary = Money(metadata={"description": "Sales in `currency`"})


class ClusterSchema(StrictSchema):
    label = fields.String(metadata={"description": "Plain words from the centre against the overall medians; "
                                                   "unique within the answer"})
    size = fields.Integer()
    centre = fields.Nested(CentreSchema, metadata={"description": "The k-means centre in original units"})


class KScoreSchema(StrictSchema):
    k = fields.Integer()
    silhouette = fields.Float()


class KSelectionSchema(StrictSchema):
    method = fields.String(metadata={"description": "`requested` or `silhouette`"})
    description = fields.String()
    silhouette = fields.Float(allow_none=True, metadata={"description": "Silhouette score of the answer"})
    scores = fields.List(fields.Nested(KScoreSchema), metadata={"description": "Each k tried (silhouette only)"})


class MediansSchema(StrictSchema):
    recency_days = fields.Float()
    frequency = fields.Float()
    monetary = Money()
    monetary_reference = Money(metadata={"description": "What labels call high- or low-spending against: the "
                                                        "median spend, or when that is 0 (most customers never "
                                                        "bought) the mean in the clustering's log1p scale"})


class SegmentationSchema(StrictSchema):
    k = fields.Integer()
    features = fields.List(fields.String())
    currency = fields.String()
    method = fields.String()
    k_selection = fields.Nested(KSelectionSchema)
    customer_count = fields.Integer(metadata={"description": "Active customers with a sale or an interaction"})
    medians = fields.Nested(MediansSchema, metadata={"description": "Of all clustered customers; labels compare "
                                                                    "each centre with them"})
    clusters = fields.List(fields.Nested(ClusterSchema),
                           metadata={"description": "Highest-spending centre first"})
    computed_at = UtcDateTime()


class SegmentationApplyResultSchema(StrictSchema):
    segments = fields.List(fields.Nested(SegmentSchema), metadata={"description": "One per cluster, in the "
                                                                                  "segmentation's order"})


class ForecastQuerySchema(StrictSchema):
    months = fields.Integer(load_default=3, validate=validate.Range(min=1, max=24),
                            metadata={"description": "How many months to forecast, from the current one (1-24)"})
    currency = _currency()


class ForecastMonthSchema(StrictSchema):
    month = fields.String(metadata={"example": "2025-07"})
    amount = Money()
    lower = Money()
    upper = Money()


class ForecastSchema(StrictSchema):
    method = fields.String(metadata={"description": "`holt-winters` (24+ months of history) or `holt`"})
    method_description = fields.String()
    currency = fields.String()
    history_months = fields.Integer(metadata={"description": "Complete months used, from the first with a sale"})
    history_from = fields.String(metadata={"example": "2023-01"})
    history_to = fields.String(metadata={"example": "2025-06"})
    interval = fields.Float(metadata={"description": "Coverage of the lower-upper prediction interval"})
    forecast = fields.List(fields.Nested(ForecastMonthSchema))
