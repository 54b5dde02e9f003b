"""bench/catalogue.py: reading explain plans, verdicts and the flatness comparison (no database)."""
from bench.catalogue import Explained, catalogue_rows, flatness_rows, verdict, winning_plan

FIND_EXPLAIN = {"queryPlanner": {"winningPlan": {"stage": "LIMIT", "inputStage": {
    "stage": "FETCH", "inputStage": {"stage": "IXSCAN", "indexName": "activity"}}}}}
AGGREGATE_EXPLAIN = {"stages": [{"$cursor": {"queryPlanner": {"winningPlan": {
    "stage": "SORT", "inputStage": {"stage": "COLLSCAN"}}}}}, {"$group": {}}]}


def row(stages, docs=0, keys=0, returned=1, query="page"):
    return Explained("op", query, "customers", "find", stages, [], keys, docs, returned)


def test_winning_plan_reads_find_and_aggregate_explains():
    assert winning_plan(FIND_EXPLAIN) == (["LIMIT", "FETCH", "IXSCAN"], ["activity"])
    assert winning_plan(AGGREGATE_EXPLAIN) == (["SORT", "COLLSCAN"], [])


def test_verdict_names_scans_and_sorts():
    assert verdict(row(["FETCH", "IXSCAN"])) == "ok"
    assert verdict(row(["SORT", "COLLSCAN"])) == "COLLSCAN, in-memory SORT"
    assert verdict(row(["SORT", "FETCH", "IXSCAN"])) == "in-memory SORT"
    assert verdict(row(["FETCH"])) == "no index stage"


def test_catalogue_rows_divide_by_what_was_returned():
    [line] = catalogue_rows([row(["FETCH", "IXSCAN"], docs=40, keys=40, returned=20)])
    assert line[8:11] == ["2", "2", "ok"]


def test_flatness_compares_examined_per_returned_and_flags_growth():
    small = [row(["IXSCAN"], docs=21, keys=21, returned=21), row(["COLLSCAN"], docs=1000, returned=20, query="x")]
    large = [row(["IXSCAN"], docs=21, keys=21, returned=21), row(["COLLSCAN"], docs=10000, returned=20, query="x")]
    flat, grown = flatness_rows(small, large)
    assert flat[-1] == "yes" and flat[4] == "1.00"
    assert grown[-1] == "NO" and grown[4] == "10.00"


def test_flatness_of_nothing_examined_stays_flat():
    [line] = flatness_rows([row(["IDHACK"], returned=0)], [row(["IDHACK"], returned=0)])
    assert line[-1] == "yes"
