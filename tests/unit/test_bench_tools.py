"""bench/: the pure parts of `make bench` (targets and tables, the round-trip counter, /proc and wrk parsing)."""
import struct
from types import SimpleNamespace

import pytest
from bson import Int64

from bench import report
from bench.measure import count_open, errors_of, parse_schedstat, parse_stat, parse_wrk_output, read_counters
from bench.operations import OPERATIONS, select
from bench.probe import (
    RoundTripCounter,
    clean_command,
    examined,
    record_ids,
    result_count,
    write_as_find,
)


def load(requests=100, served=100, cpu_s=0.2, errors=0, handler_cpu_s=0.1):
    return report.LoadResult(requests=requests, served=served, duration_s=10.0, p50_ms=1.5, p99_ms=9.0,
                             errors=errors, cpu_s=cpu_s, handler_cpu_s=handler_cpu_s)


def started(counter, request_id, command):
    name = next(iter(command))
    counter.started(SimpleNamespace(command_name=name, command=command, request_id=request_id))


def succeeded(counter, request_id, reply):
    counter.succeeded(SimpleNamespace(request_id=request_id, reply=reply))


# -- targets and verdicts -----------------------------------------------------------------


def test_cpu_verdict_accepts_a_ratio_at_the_target():
    assert report.cpu_verdict(1.5) == "ok"


def test_cpu_verdict_says_by_how_much_a_ratio_misses():
    assert report.cpu_verdict(2.25) == "MISS cpu 2.25x floor (+50% over 1.5x)"


def test_cpu_verdict_without_a_floor_is_not_applicable():
    assert report.cpu_verdict(None) == "n/a"


def test_round_trips_may_exceed_the_minimum_by_one_for_authentication():
    assert report.round_trip_verdict(3, 2) == "ok"


def test_round_trips_beyond_minimum_plus_auth_are_a_miss_with_the_excess():
    assert report.round_trip_verdict(6, 2) == "MISS round trips 6 (+3 over 3)"


def test_round_trip_averages_are_shown_with_one_decimal():
    assert report.round_trip_verdict(3.5, 1) == "MISS round trips 3.5 (+1.5 over 2)"


def test_flatness_verdict_accepts_growth_up_to_the_target():
    assert report.flatness_verdict(2.0, 2.6) == "ok (1.30x)"


def test_flatness_verdict_names_what_grew_and_by_how_much():
    assert report.flatness_verdict(2.0, 5.2, what="docs examined") == "MISS docs examined 2.60x (+100% over 1.3x)"


def test_cpu_per_request_divides_by_requests_served_not_answered():
    result = load(requests=90, served=100, cpu_s=0.25)
    assert result.cpu_ms_per_request == pytest.approx(2.5)
    assert result.rate == pytest.approx(9.0)


def test_cpu_per_request_is_unknown_when_nothing_was_served():
    assert load(requests=0, served=0).cpu_ms_per_request is None


def test_operation_ratio_is_service_cpu_over_floor_cpu():
    result = report.OperationResult("x", "x", 1, service=load(cpu_s=0.3), floor=load(cpu_s=0.2))
    assert result.cpu_ratio == pytest.approx(1.5)


# -- tables -------------------------------------------------------------------------------


def test_render_table_pads_every_column_to_its_widest_cell():
    table = report.render_table(("name", "n"), [["by id", "12"], ["list", "3"]])
    assert table.splitlines() == [
        "| name  | n  |",
        "|-------|----|",
        "| by id | 12 |",
        "| list  | 3  |",
    ]


def test_main_row_shows_an_unbuilt_operation_as_skipped():
    row = report.main_row(report.OperationResult("reports_summary", "reports summary", None,
                                                 not_built="not built yet"))
    assert row[0] == "reports summary"
    assert row[-1] == "skipped: not built yet"
    assert len(row) == len(report.MAIN_HEADERS)


def test_main_row_lists_every_missed_target_and_errors():
    result = report.OperationResult("add", "add interaction", 1, service=load(cpu_s=0.5, errors=3),
                                    floor=load(cpu_s=0.2), round_trips=3)
    row = report.main_row(result)
    assert row[6] == "2.50"
    assert row[7] == "3 (2)"
    assert row[-1] == ("MISS cpu 2.50x floor (+67% over 1.5x); MISS round trips 3 (+1 over 2); "
                       "3 service errors")


def test_main_row_shows_a_met_target_as_ok():
    result = report.OperationResult("list", "customer list", 2, service=load(cpu_s=0.1), floor=load(cpu_s=0.1),
                                    round_trips=3, docs_per_result=1.05)
    row = report.main_row(result)
    assert row[1] == "10.0"
    assert row[8] == "1.1"
    assert row[-1] == "ok"


def test_main_row_marks_a_run_with_few_answers():
    result = report.OperationResult("list", "customer list", 2, service=load(requests=7), floor=load(),
                                    round_trips=3)
    assert report.main_row(result)[1] == "0.7 (n=7)"


def test_few_served_requests_are_judged_on_handler_cpu_and_marked():
    # Worker CPU says 10 ms vs 1 ms (background noise); the handlers spent 0.03 s / 9 vs 0.02 s / 9.
    result = report.OperationResult("list", "customer list", 2,
                                    service=load(served=9, cpu_s=0.09, handler_cpu_s=0.03),
                                    floor=load(served=9, cpu_s=0.009, handler_cpu_s=0.02), round_trips=3)
    row = report.main_row(result)
    assert row[4:7] == ["3.33*", "2.22*", "1.50*"]
    assert row[-1] == "ok"


def test_many_served_requests_are_judged_on_worker_cpu():
    result = report.OperationResult("id", "by id", 1, service=load(cpu_s=0.3, handler_cpu_s=0.1),
                                    floor=load(cpu_s=0.1, handler_cpu_s=0.1), round_trips=2)
    assert report.main_row(result)[4:7] == ["3.00", "1.00", "3.00"]


def test_floor_row_shows_worker_and_handler_cpu_of_both_apps_with_ratios():
    result = report.OperationResult("list", "customer list", 2, service=load(cpu_s=0.4, handler_cpu_s=0.3),
                                    floor=load(cpu_s=0.2, handler_cpu_s=0.1), same_result=True,
                                    commands={"find customers": 1})
    row = report.floor_row(result)
    assert row[6] == "4.00 / 2.00 (2.00)"
    assert row[7] == "3.00 / 1.00 (3.00)"
    assert row[8] == "yes"
    assert row[-1] == "find customers x1"


def test_main_row_flags_a_floor_that_answered_other_records():
    result = report.OperationResult("list", "customer list", 2, service=load(), floor=load(), round_trips=2,
                                    same_result=False)
    assert report.main_row(result)[-1] == "floor answered other records"


def test_flatness_row_compares_the_smallest_and_largest_size():
    small = report.OperationResult("list", "customer list", 2, service=load(cpu_s=0.2), docs_per_result=1.0)
    large = report.OperationResult("list", "customer list", 2, service=load(cpu_s=0.3), docs_per_result=10.0)
    row = report.flatness_row("customer list", small, large)
    assert row == ["customer list", "2.00", "3.00", "MISS cpu 1.50x (+15% over 1.3x)", "1", "10",
                   "MISS docs examined 10.00x (+669% over 1.3x)"]


# -- round trips and explain --------------------------------------------------------------


def test_counter_counts_every_command_as_one_round_trip():
    counter = RoundTripCounter()
    started(counter, 1, {"aggregate": "sessions", "pipeline": [], "$db": "crm"})
    started(counter, 2, {"find": "customers", "filter": {}, "$db": "crm"})
    started(counter, 3, {"getMore": Int64(7), "collection": "customers", "$db": "crm"})
    assert counter.round_trips == 3
    assert counter.breakdown() == {"aggregate sessions": 1, "find customers": 1, "getMore customers": 1}


def test_counter_reset_forgets_earlier_commands():
    counter = RoundTripCounter()
    started(counter, 1, {"find": "customers", "filter": {}})
    counter.reset()
    assert counter.round_trips == 0
    assert counter.explain_commands() == []


def test_find_is_explained_with_the_documents_its_cursor_actually_returned():
    counter = RoundTripCounter()
    started(counter, 1, {"find": "customers", "filter": {"a": 1}, "batchSize": 2, "lsid": {"id": 1}, "$db": "crm"})
    succeeded(counter, 1, {"cursor": {"id": Int64(9), "firstBatch": [{}, {}]}})
    started(counter, 2, {"getMore": Int64(9), "collection": "customers", "batchSize": 2})
    succeeded(counter, 2, {"cursor": {"id": Int64(0), "nextBatch": [{}]}})
    assert counter.explain_commands() == [{"find": "customers", "filter": {"a": 1}, "limit": 3}]


def test_find_keeps_its_own_smaller_limit():
    counter = RoundTripCounter()
    started(counter, 1, {"find": "customers", "filter": {}, "limit": 21})
    succeeded(counter, 1, {"cursor": {"id": Int64(0), "firstBatch": [{}] * 21}})
    assert counter.explain_commands() == [{"find": "customers", "filter": {}, "limit": 21}]


def test_writes_are_explained_as_the_find_of_what_they_select():
    counter = RoundTripCounter()
    started(counter, 1, {"findAndModify": "customers", "query": {"_id": 1}, "update": {"$set": {"a": 1}}})
    started(counter, 2, {"insert": "customers", "documents": [{}]})
    assert counter.explain_commands() == [{"find": "customers", "filter": {"_id": 1}, "limit": 1}]


def test_update_many_and_delete_all_are_explained_without_a_limit():
    assert write_as_find("update", {"update": "c", "updates": [{"q": {"a": 1}, "multi": True}]}) == \
        {"find": "c", "filter": {"a": 1}}
    assert write_as_find("delete", {"delete": "c", "deletes": [{"q": {"a": 1}, "limit": 0}]}) == \
        {"find": "c", "filter": {"a": 1}}
    assert write_as_find("update", {"update": "c", "updates": [{"q": {"a": 1}}]}) == \
        {"find": "c", "filter": {"a": 1}, "limit": 1}


def test_clean_command_drops_session_and_routing_fields():
    command = {"find": "c", "filter": {}, "$db": "crm", "lsid": {}, "$clusterTime": {}, "txnNumber": 1,
               "singleBatch": True}
    assert clean_command(command) == {"find": "c", "filter": {}}


def test_examined_reads_a_find_explain():
    explain = {"queryPlanner": {}, "executionStats": {"totalDocsExamined": 21, "totalKeysExamined": 22}}
    assert examined(explain) == (21, 22)


def test_examined_counts_the_top_level_stats_of_an_aggregate_once():
    stats = {"totalDocsExamined": 5, "totalKeysExamined": 6}
    explain = {"stages": [{"$cursor": {"executionStats": stats}}], "executionStats": stats}
    assert examined(explain) == (5, 6)


def test_examined_finds_stats_nested_in_stages():
    explain = {"stages": [{"$cursor": {"executionStats": {"totalDocsExamined": 4, "totalKeysExamined": 0}}},
                          {"$group": {}}]}
    assert examined(explain) == (4, 0)


def test_result_count_is_the_page_size_or_one_record():
    assert result_count({"items": [{}, {}, {}], "total": 40}) == 3
    assert result_count({"id": "x"}) == 1


def test_record_ids_read_service_and_floor_answers_alike():
    assert record_ids({"items": [{"id": "a"}, {"id": "b"}]}) == record_ids({"items": [{"_id": "a"}, {"_id": "b"}]})
    assert record_ids({"id": "a"}) == ["a"]


# -- /proc and wrk ------------------------------------------------------------------------


def test_parse_stat_reads_ppid_and_cpu_ticks_past_a_name_with_spaces():
    line = "4242 (gunicorn: worker [crm service]) S 4200 4200 4200 0 -1 4194560 100 0 0 0 731 45 0 0 20 0 2 0"
    assert parse_stat(line) == {"ppid": 4200, "utime": 731, "stime": 45}


def test_parse_schedstat_reads_nanoseconds_on_cpu():
    assert parse_schedstat("123456789 1000 7\n") == 123456789


TCP_TABLE = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 2 1
   2: 0100007F:1F90 0100007F:C351 08 00000000:00000000 00:00000000 00000000     0        0 3 1
   3: 0100007F:1F90 0100007F:C352 06 00000000:00000000 00:00000000 00000000     0        0 0 1
   4: 0100007F:C353 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 4 1
"""


def test_open_connections_are_established_or_closing_sockets_on_the_server_port():
    # Port 8080 (1F90): one listener, one established, one CLOSE_WAIT, one TIME_WAIT; a client socket elsewhere.
    assert count_open([TCP_TABLE], 8080) == 2
    assert count_open([TCP_TABLE], 8081) == 0


def test_read_counters_sums_the_workers_counter_files(tmp_path):
    (tmp_path / "101").write_bytes(struct.pack("<QQ", 40, 3_000_000_000))
    (tmp_path / "102").write_bytes(struct.pack("<QQ", 2, 500_000_000))
    (tmp_path / "999").write_bytes(struct.pack("<QQ", 1000, 9))  # another process's file is not counted
    assert read_counters(tmp_path, [101, 102, 103]) == (42, 3.5)


def test_parse_wrk_output_reads_the_result_line_among_wrk_chatter():
    text = ("Running 10s test @ http://127.0.0.1:8000\n  2 threads and 2 connections\n"
            'BENCH_RESULT {"requests": 12, "errors_connect": 0, "errors_read": 1, "errors_write": 0, '
            '"errors_status": 2, "errors_timeout": 0}\n')
    result = parse_wrk_output(text)
    assert result["requests"] == 12
    assert errors_of(result) == 3


def test_parse_wrk_output_without_a_result_line_is_an_error():
    with pytest.raises(ValueError, match="no BENCH_RESULT"):
        parse_wrk_output("unable to connect to 127.0.0.1:8000 Connection refused\n")


# -- the operation catalogue --------------------------------------------------------------


def test_every_operation_is_built_with_a_floor_route_and_all_but_the_report_have_a_minimum():
    assert all(operation.floor_path and not operation.not_built for operation in OPERATIONS)
    without_minimum = [operation.key for operation in OPERATIONS if operation.min_round_trips is None]
    assert without_minimum == ["reports_summary"]


def test_the_floor_answers_the_report_from_the_same_queries_as_the_service(monkeypatch):
    import os
    from datetime import UTC, datetime, timedelta

    import mongomock
    from bson.decimal128 import Decimal128

    from bench import floor_app
    from crm_service.repositories.interactions import activity_key
    from crm_service.repositories.reports import ReportRepository

    client = mongomock.MongoClient(tz_aware=True)
    database = client[os.environ.get("MONGO_DB_NAME", "crm")]
    now = datetime.now(UTC)
    database.customers.insert_many([
        {"is_active": True, "status": "active", "initial_status": "lead", "created_at": now - timedelta(days=2),
         "activity_key": activity_key(now - timedelta(days=1), 1),
         "interactions": [{"id": 1, "type": "call", "occurred_at": now - timedelta(days=1)}], "embedded_count": 1},
        {"is_active": True, "status": "lead", "created_at": now - timedelta(days=90), "interactions": []},
    ])
    database.sales.insert_many([{"sale_date": now - timedelta(days=3), "currency": "MAD",
                                 "amount": Decimal128("120.50")},
                                {"sale_date": now - timedelta(days=60), "currency": "MAD", "amount": Decimal128("9")}])
    monkeypatch.setitem(floor_app._client, "pid", os.getpid())
    monkeypatch.setitem(floor_app._client, "client", client)
    monkeypatch.setitem(floor_app._client, "db", database)

    answer = floor_app.app.test_client().get("/reports/summary").get_json()

    end = datetime.now(UTC)
    expected = ReportRepository(database, floor_app.EMBED_LIMIT).customers(end - timedelta(days=30), end)
    assert sorted(answer["customers"], key=str) == sorted(expected, key=str)
    assert {row["status"]: row["new"] for row in answer["customers"]} == {"active": 1, "lead": 0}
    assert answer["interactions"] == {"call": 1}
    assert answer["sales_totals"] == {"MAD": "120.50"}
    assert answer["tickets_resolved"] == 0 and answer["median_hours_to_resolve"] is None


def floor_on_mongomock(monkeypatch):
    """The floor app's client and database set to a fresh mongomock one; no background mover thread."""
    import os

    import mongomock

    from bench import floor_app

    client = mongomock.MongoClient(tz_aware=True)
    database = client[os.environ.get("MONGO_DB_NAME", "crm")]
    monkeypatch.setitem(floor_app._client, "pid", os.getpid())
    monkeypatch.setitem(floor_app._client, "client", client)
    monkeypatch.setitem(floor_app._client, "db", database)
    monkeypatch.setitem(floor_app._outbox, "pid", os.getpid())  # the mover thread starts per process: not here
    monkeypatch.setitem(floor_app._outbox, "ids", set())
    return client, database


def test_the_floor_writes_carry_their_audit_entries_as_the_service_does(monkeypatch):
    """One command per write, the entry in the written document; moved by the service's own move_outbox."""
    from bench import floor_app
    from crm_service.repositories.audit import AuditRepository

    _, database = floor_on_mongomock(monkeypatch)
    http = floor_app.app.test_client()

    made = http.post("/customers", json={"first_name": "Rita", "email": "Rita@Floor.example"}).get_json()
    http.post(f"/customers/{made['_id']}/interactions", json={"type": "phone", "notes": "hi"})

    assert "audit_outbox" not in made
    stored = database.customers.find_one()
    assert [entry["entity"] for entry in stored["audit_outbox"]] == ["customers", "interactions"]
    assert floor_app._outbox["ids"] == {stored["_id"]}
    assert AuditRepository(database).move_outbox(database.customers, floor_app._outbox["ids"]) == 2
    assert database.audit_log.count_documents({}) == 2 and "audit_outbox" not in database.customers.find_one()


def test_the_floor_stores_the_same_index_fields_as_the_service_and_finds_by_them(monkeypatch):
    """The same document means the same index keys to maintain: the CPU ratio compares equal database work."""
    from bench import floor_app
    from crm_service.repositories.customers import CustomerRepository

    client, database = floor_on_mongomock(monkeypatch)
    body = {"first_name": "Bench", "last_name": "Load 3", "email": "run2-1-8@bench.example", "phone": "+14155550123"}

    made = floor_app.app.test_client().post("/customers", json=body).get_json()
    CustomerRepository(client.service_side).create({**body, "tags": []})

    by_floor = database.customers.find_one({"_id": floor_app.ObjectId(made["_id"])})
    by_service = client.service_side.customers.find_one()
    for field in ("last_name_key", "search_terms", "search_prefixes"):
        assert by_floor[field] == by_service[field], field
    assert len(by_floor["search_prefixes"]) > 70
    found = floor_app.app.test_client().get("/customers?q=load+bench&size=20").get_json()
    assert made["_id"] in [item["_id"] for item in found["items"]]


def test_rotating_operations_expand_one_path_per_id():
    by_id = select(["customer_by_id"])[0]
    assert by_id.paths(by_id.service_path, ["a", "b"], []) == ["/api/v1/customers/a", "/api/v1/customers/b"]


def test_search_terms_become_query_string_words():
    search = select(["customer_search"])[0]
    assert search.paths(search.floor_path, [], ["amina benali"]) == ["/customers?q=amina+benali&size=20"]


def test_select_rejects_an_unknown_operation():
    with pytest.raises(ValueError, match="unknown operation"):
        select(["customer_by_id", "nope"])


def test_the_memory_benchmark_is_an_option_of_the_bench_with_a_ten_minute_soak_by_default():
    from bench.run import parse_args

    assert (parse_args([]).memory, parse_args([]).soak_seconds, parse_args([]).feed_seconds) == (False, 600, 120)
    chosen = parse_args(["--memory", "--soak-seconds", "30", "--feed-seconds", "5", "--sizes", "2000"])
    assert (chosen.memory, chosen.soak_seconds, chosen.feed_seconds, chosen.sizes) == (True, 30, 5, "2000")


def test_a_run_that_failed_part_way_still_reports_what_it_measured():
    from bench.run import Settings, render

    def measured(key, cpu_s):
        return report.OperationResult(key, key, 1, service=load(cpu_s=cpu_s), floor=load(cpu_s=0.2), round_trips=2)

    results = {10000: [measured("by_id", 0.3), measured("list", 0.4)], 100000: [measured("by_id", 0.33)]}
    info = {"when": "now", "commit": "abc", "database": "db", "machine": "m", "elapsed": 1.0,
            "failure": "TimeoutError: timed out"}

    text = render(results, Settings(10, 2, 2, 2, 2, 3, 120), info)

    assert "**The run failed** (TimeoutError: timed out)" in text
    flatness = text.split("## Flatness: 10000 vs 100000 customers")[1]
    assert "by_id" in flatness and "list" not in flatness  # only what both sizes measured
    assert "## 100000 customers" in text


def test_rounds_combine_into_one_load_whose_cpu_per_request_weighs_every_round():
    first = report.LoadResult(requests=100, served=101, duration_s=3.0, p50_ms=2.0, p99_ms=9.0, errors=0,
                              cpu_s=0.2, handler_cpu_s=0.15)
    stalled = report.LoadResult(requests=50, served=50, duration_s=3.0, p50_ms=5.0, p99_ms=400.0, errors=1,
                                cpu_s=0.15, handler_cpu_s=0.1)
    last = report.LoadResult(requests=99, served=99, duration_s=3.0, p50_ms=3.0, p99_ms=12.0, errors=0,
                             cpu_s=0.25, handler_cpu_s=0.2)

    combined = report.combine([first, stalled, last])

    assert (combined.requests, combined.served, combined.errors) == (249, 250, 1)
    assert combined.duration_s == pytest.approx(9.0)
    assert combined.cpu_ms_per_request == pytest.approx(600 / 250)  # total CPU over total served
    assert combined.handler_ms_per_request == pytest.approx(450 / 250)
    assert (combined.p50_ms, combined.p99_ms) == (3.0, 400.0)  # the median round's p50, the worst p99
    assert report.combine([first]) is first


def test_the_header_names_the_alternating_rounds():
    from bench.run import Settings, render

    info = {"when": "now", "commit": "abc", "database": "db", "machine": "m", "elapsed": 1.0}

    text = render({}, Settings(9, 2, 2, 2, 2, 3, 120, rounds=3), info)

    assert "then 9 s per operation and app, in 3 alternating rounds" in text


def test_a_reused_bench_database_loses_the_customers_earlier_loads_created():
    import mongomock

    from bench.run import remove_bench_customers
    from crm_service.repositories.customers import derived_fields

    def customer(first_name, email):
        document = {"first_name": first_name, "last_name": "X", "email": email}
        return {**document, **derived_fields(document)}

    database = mongomock.MongoClient().crm_bench
    database.customers.insert_many([
        customer("Amina", "amina.1@demo.example"),
        customer("Bench", "bench.lover@demo.example"),  # a seeded customer named Bench stays
        customer("Bench", "run1-0-1@bench.example"),
        customer("Bench", "run2-1-7@bench.example"),
        # as the floor stores it: fewer search terms, none for the domain
        {"first_name": "Bench", "last_name": "Load 3", "email": "run2-1-8@bench.example",
         "search_terms": ["e:run2-1-8@bench.example", "n:bench", "n:load 3"]},
        customer("Bench", "bench@bench.example.org"),  # only an address ending in @bench.example is the bench's
    ])

    assert remove_bench_customers(database) == 3
    assert sorted(d["email"] for d in database.customers.find()) == ["amina.1@demo.example", "bench.lover@demo.example",
                                                                   "bench@bench.example.org"]
    assert remove_bench_customers(database) == 0


def test_a_reused_database_that_does_not_hold_its_seeded_size_is_reported():
    import mongomock

    from bench.run import size_warning

    database = mongomock.MongoClient().crm_bench
    database.customers.insert_many([{"email": f"{number}@demo.example"} for number in range(3)])

    assert size_warning(database, 3) is None
    assert "holds 3 customers, not the seeded 2" in size_warning(database, 2)
    database.customers.insert_many([{"email": f"exp-{number}@x.example"} for number in range(1200)])
    assert "holds 1,203 customers, not the seeded 3" in size_warning(database, 3)
