"""RFM segmentation: k-means over recency, frequency and monetary value, and saving clusters as segments.

Features per active customer with any activity (a sale, or an interaction that happened):
- recency_days: whole days since the latest sale or interaction (0 for today or a future-dated sale);
- frequency: its interactions (embedded and archived, as `interaction_count`) plus its sales in any currency;
- monetary: the sum of its sales in one currency (BASE_CURRENCY unless asked).
All three are log1p-transformed (all are heavily right-skewed: a few big buyers or long-gone customers
would otherwise own a cluster each, and a centre would be an arithmetic mean dragged up by them),
then standardised (StandardScaler) and clustered by scikit-learn's KMeans with a fixed random_state
and n_init, so the same data gives the same answer. A centre in original units is the k-means centre
transformed back (a geometric-style mean), which is what the labels compare with the overall medians.
"""
import warnings
from dataclasses import dataclass, field
from decimal import Decimal

from pymongo.errors import DuplicateKeyError

from crm_service.errors import Conflict, invalid
from crm_service.repositories.analytics import AnalyticsRepository
from crm_service.repositories.segments import SegmentRepository
from crm_service.schemas.money import CENT, money_string
from crm_service.schemas.segments import MAX_CUSTOMER_IDS

FEATURES = ("recency_days", "frequency", "monetary")
MIN_K, MAX_K = 2, 10
MIN_CUSTOMERS = 10
RANDOM_STATE = 0
N_INIT = 10
# Silhouette is quadratic in the points; past this many it is estimated on a fixed-seed sample.
SILHOUETTE_SAMPLE = 2000
# A segment lists its members explicitly (criteria.customer_ids); a bigger cluster cannot be saved.
MAX_MEMBERS = MAX_CUSTOMER_IDS
DAY_SECONDS = 86400
METHOD = ("k-means (scikit-learn KMeans, n_init=10, random_state=0) on standardised log1p(recency_days), "
          "log1p(frequency) and log1p(monetary)")
K_BY_SILHOUETTE = ("k omitted: each k from 2 to min(10, distinct customer profiles, customers - 1) was fitted and "
                   "the one with the highest silhouette score was kept (the smaller k on a tie)")
NICKNAMES = {
    (True, True, True): "champions",
    (True, True, False): "loyal regulars",
    (True, False, True): "promising big spenders",
    (True, False, False): "newcomers",
    (False, True, True): "at risk",
    (False, True, False): "slipping regulars",
    (False, False, True): "lapsed big spenders",
    (False, False, False): "hibernating",
}


# Words telling apart clusters that share a profile, by the feature they differ on most: (better, worse)
# for two clusters, and the superlative for ranks of three or more. Lower recency is better.
TIE_WORDS = {
    0: ("more recent", "less recent", "most recent"),
    1: ("more frequent", "less frequent", "most frequent"),
    2: ("higher-spending", "lower-spending", "highest-spending"),
}
ORDINALS = {2: "2nd", 3: "3rd"}


@dataclass
class Cluster:
    label: str
    size: int
    centre: dict
    members: list = field(repr=False)
    point: tuple = field(default=(), repr=False)  # the centre in standardised units

def _features(rows, now):
    """(customer ids, [[recency_days, frequency, monetary]]) for the customers with any activity.

    In the order of the values (then ids): k-means then sees the same input for the same profiles
    however the documents were stored, down to the last bit of its floating-point sums.
    """
    found = []
    for row in rows:
        if row.last_activity_at is None:
            continue
        days = max(0, int((now - row.last_activity_at).total_seconds() // DAY_SECONDS))
        found.append(([days, row.frequency, float(row.monetary)], str(row.customer_id), row.customer_id))
    found.sort(key=lambda item: (item[0], item[1]))
    return [item[2] for item in found], [item[0] for item in found]


def _check_enough(count, distinct, k):
    needed = max(MIN_CUSTOMERS, (k or MIN_K) + 1)
    if count < needed:
        raise invalid(None, f"Not enough data to segment: {count} active customers have a sale or an interaction; "
                            f"at least {needed} are needed.")
    if k is not None and distinct < k:
        raise invalid({"k": [f"Only {distinct} distinct customer profiles; choose k of at most {distinct}."]},
                      f"Not enough data for {k} clusters: only {distinct} distinct customer profiles.")
    if k is None and distinct < MIN_K:
        raise invalid(None, "Not enough data to segment: every active customer has the same profile.")


def _fit(points, k):
    from sklearn.cluster import KMeans

    with warnings.catch_warnings():
        # Duplicated points can leave fewer distinct centres than asked: sklearn warns, the answer stands.
        warnings.simplefilter("ignore")
        return KMeans(n_clusters=k, n_init=N_INIT, random_state=RANDOM_STATE).fit(points)


def _one_thread():
    """One BLAS/OpenMP thread: a request has one core to itself at best, and KMeans' thread pools on a
    busy machine were measured 10-50 times slower than a single thread."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def _silhouette(points, labels):
    from sklearn.metrics import silhouette_score

    sample = SILHOUETTE_SAMPLE if len(points) > SILHOUETTE_SAMPLE else None
    return float(silhouette_score(points, labels, sample_size=sample, random_state=RANDOM_STATE))


def _choose(points, distinct, k):
    """(fitted model, k_selection) for the requested k, or the best silhouette over the candidates."""
    if k is not None:
        model = _fit(points, k)
        score = _silhouette(points, model.labels_) if len(set(model.labels_)) > 1 else None
        return model, {"method": "requested", "silhouette": score, "scores": []}
    best, scores = None, []
    for candidate in range(MIN_K, min(MAX_K, distinct, len(points) - 1) + 1):
        model = _fit(points, candidate)
        if len(set(model.labels_)) < 2:
            continue
        score = _silhouette(points, model.labels_)
        scores.append({"k": candidate, "silhouette": round(score, 4)})
        if best is None or score > best[1] + 1e-12:
            best = (model, score)
    if best is None:
        raise invalid(None, "Not enough data to segment: the customers do not form two separate groups.")
    return best[0], {"method": "silhouette", "silhouette": best[1], "scores": scores}


def _centres(model, scaler, numpy):
    """Each k-means centre back in original units: unscaled, then expm1."""
    raw = numpy.expm1(scaler.inverse_transform(model.cluster_centers_))
    return [{
        "recency_days": round(max(0.0, float(row[0])), 1),
        "frequency": round(max(0.0, float(row[1])), 1),
        "monetary": max(Decimal(0), Decimal(repr(float(row[2])))).quantize(CENT),
    } for row in raw]


def _label(centre, medians):
    """Plain words from the centre against the medians of all clustered customers.

    When most customers never bought, the median spend is 0 and any cluster with a few buyers would read
    "high-spending"; spending is then judged against the mean in the clustering's own (log1p) scale.
    """
    recent = centre["recency_days"] <= medians["recency_days"]
    frequent = centre["frequency"] > medians["frequency"]
    spends = centre["monetary"] > medians.get("monetary_reference", medians["monetary"])
    if centre["monetary"] == 0:
        spending = "no purchases"
    else:
        spending = "high-spending" if spends else "low-spending"
    words = ("Recent" if recent else "Lapsed", "frequent" if frequent else "occasional", spending)
    return f"{', '.join(words)} ({NICKNAMES[(recent, frequent, spends)]})"


def _unique_labels(clusters):
    """Clusters sharing a profile are told apart on the feature whose centres differ most between them.

    Two: "..., more recent" / "..., less recent". Three or more: "..., most recent", "..., 2nd most recent", ...
    """
    by_label = {}
    for cluster in clusters:
        by_label.setdefault(cluster.label, []).append(cluster)
    for label, group in by_label.items():
        if len(group) < 2:
            continue
        feature = max(range(3), key=lambda axis: (max(c.point[axis] for c in group) - min(c.point[axis] for c in group),
                                                  -axis))
        better, worse, most = TIE_WORDS[feature]
        # Best first: least recency_days, or most frequency / monetary.
        ranked = sorted(group, key=lambda c: c.point[feature] if feature == 0 else -c.point[feature])
        for rank, cluster in enumerate(ranked, start=1):
            if len(group) == 2:
                cluster.label = f"{label}, {better if rank == 1 else worse}"
            else:
                ordinal = "" if rank == 1 else ORDINALS.get(rank, f"{rank}th") + " "
                cluster.label = f"{label}, {ordinal}{most}"


def segment(db, currency, now, k=None):
    """The segmentation of the active customers as a dict (clusters carry their member ids)."""
    import numpy
    from sklearn.preprocessing import StandardScaler

    ids, values = _features(AnalyticsRepository(db).customer_activity(currency), now)
    raw = numpy.array(values, dtype=float).reshape(-1, 3)
    distinct = len(numpy.unique(raw, axis=0)) if len(raw) else 0
    _check_enough(len(ids), distinct, k)
    transformed = numpy.log1p(raw)
    scaler = StandardScaler().fit(transformed)
    points = scaler.transform(transformed)
    with _one_thread():
        model, selection = _choose(points, distinct, k)
    medians = {
        "recency_days": float(numpy.median(raw[:, 0])),
        "frequency": float(numpy.median(raw[:, 1])),
        "monetary": Decimal(repr(float(numpy.median(raw[:, 2])))).quantize(CENT),
    }
    reference = medians["monetary"] or Decimal(repr(float(numpy.expm1(transformed[:, 2].mean())))).quantize(CENT)
    medians["monetary_reference"] = reference
    clusters = []
    for number, centre in enumerate(_centres(model, scaler, numpy)):
        members = [ids[index] for index in numpy.flatnonzero(model.labels_ == number)]
        if members:
            point = tuple(float(value) for value in model.cluster_centers_[number])
            clusters.append(Cluster(_label(centre, medians), len(members), centre, members, point))
    clusters.sort(key=lambda cluster: (-cluster.centre["monetary"], -cluster.centre["frequency"],
                                       cluster.centre["recency_days"], str(cluster.members[0])))
    _unique_labels(clusters)
    score = selection["silhouette"]
    return {
        "k": len(clusters),
        "features": list(FEATURES),
        "currency": currency,
        "method": METHOD,
        "k_selection": {
            "method": selection["method"],
            "description": K_BY_SILHOUETTE if selection["method"] == "silhouette" else "k as requested",
            "silhouette": None if score is None else round(score, 4),
            "scores": selection["scores"],
        },
        "customer_count": len(ids),
        "medians": {**medians, "monetary": money_string(medians["monetary"]),
                    "monetary_reference": money_string(medians["monetary_reference"])},
        "clusters": clusters,
        "computed_at": now,
    }


def apply(db, currency, now, k=None, name_prefix="RFM: "):
    """Save each cluster as a segment listing its members; all or nothing (a name clash creates none).

    Returns (segmentation, created segment documents).
    """
    result = segment(db, currency, now, k)
    too_big = [cluster for cluster in result["clusters"] if cluster.size > MAX_MEMBERS]
    if too_big:
        raise invalid(None, f"A segment lists at most {MAX_MEMBERS} customers; the cluster "
                            f"\"{too_big[0].label}\" has {too_big[0].size}. Choose a larger k.")
    repository = SegmentRepository(db)
    created = []
    when = now.strftime("%Y-%m-%d %H:%M UTC")
    try:
        for number, cluster in enumerate(result["clusters"], start=1):
            centre = cluster.centre
            description = (f"RFM k-means cluster {number} of {result['k']} computed {when}: {cluster.size} "
                           f"customers; centre {centre['recency_days']} days since last activity, frequency "
                           f"{centre['frequency']}, monetary {money_string(centre['monetary'])} {currency}.")
            created.append(repository.create({
                "name": f"{name_prefix}{cluster.label}",
                "description": description,
                "criteria": {"customer_ids": sorted(str(member) for member in cluster.members)},
            }))
    except DuplicateKeyError as exc:
        for document in created:
            repository.delete(document)
        clash = f"{name_prefix}{result['clusters'][len(created)].label}"
        raise Conflict(f"A segment named \"{clash}\" already exists; nothing was saved",
                       {"name_prefix": ["A segment with one of these names already exists."]}) from exc
    return result, created
