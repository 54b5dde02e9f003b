"""bench/memory.py: RSS from /proc, the growth fit and verdicts, the mixed rotation, the report; mixed.lua under wrk."""
import json
import os
import shutil
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench import memory

STATUS_TEXT = """Name:\tgunicorn
State:\tS (sleeping)
VmPeak:\t  412000 kB
VmHWM:\t   60000 kB
VmRSS:\t   53248 kB
RssAnon:\t   40000 kB
Threads:\t3
"""


def samples_of(pid, values, step=10.0):
    """[(t, {pid: MiB})] every `step` seconds."""
    return [(index * step, {pid: value}) for index, value in enumerate(values)]


# -- /proc ------------------------------------------------------------------------------------------


def test_vmrss_is_read_in_mib_from_a_status_text():
    assert memory.parse_vmrss_mib(STATUS_TEXT) == pytest.approx(52.0)


def test_a_process_without_vmrss_has_no_rss():
    # Kernel threads (and zombies) have no VmRSS line.
    assert memory.parse_vmrss_mib("Name:\tkthreadd\nState:\tS (sleeping)\n") is None


def test_an_unknown_vmrss_unit_is_an_error_not_a_wrong_number():
    with pytest.raises(ValueError, match="unknown VmRSS unit"):
        memory.parse_vmrss_mib("VmRSS:\t 12 pages\n")


def test_rss_of_a_pid_comes_from_its_status_file(tmp_path):
    (tmp_path / "4242").mkdir()
    (tmp_path / "4242" / "status").write_text(STATUS_TEXT)
    assert memory.rss_mib(4242, proc=tmp_path) == pytest.approx(52.0)
    assert memory.rss_mib(4243, proc=tmp_path) is None  # gone


def test_the_rss_sampler_reads_this_process_and_ends_with_a_last_sample():
    pid = os.getpid()
    with memory.RssSampler([pid], 0.01) as sampler:
        threading.Event().wait(0.1)
    assert len(sampler.samples) >= 3
    times = [t for t, _ in sampler.samples]
    assert times == sorted(times)
    assert all(values[pid] > 1 for _, values in sampler.samples)  # MiB: a Python process is larger than 1 MiB


# -- fit and verdicts -------------------------------------------------------------------------------


def test_least_squares_slope_of_points_on_a_line_is_the_line_slope():
    assert memory.least_squares_slope([(0, 1.0), (10, 21.0), (20, 41.0)]) == pytest.approx(2.0)


def test_least_squares_slope_fits_through_noise():
    assert memory.least_squares_slope([(0, 0.0), (1, 2.0), (2, 1.0), (3, 3.0)]) == pytest.approx(0.8)


def test_slope_needs_two_distinct_points_and_skips_unreadable_ones():
    assert memory.least_squares_slope([(0, 5.0)]) is None
    assert memory.least_squares_slope([(3, 5.0), (3, 6.0)]) is None
    assert memory.least_squares_slope([(0, 5.0), (5, None), (10, 6.0)]) == pytest.approx(0.1)


def test_warm_up_is_a_minute_or_a_tenth_of_a_shorter_soak():
    assert memory.warmup_seconds(600) == 60
    assert memory.warmup_seconds(60) == pytest.approx(6)


def test_growth_up_to_ten_percent_is_flat_and_says_the_threshold():
    assert memory.flat_verdict(100.0, 110.0) == "flat (+10.0 MiB, +10.0% <= 10%)"
    assert memory.flat_verdict(100.0, 95.0) == "flat (-5.0 MiB, -5.0% <= 10%)"


def test_growth_beyond_ten_percent_is_a_miss_with_the_growth():
    assert memory.flat_verdict(100.0, 125.0) == "MISS grew +25.0 MiB (+25.0% > 10%)"


def test_flat_verdict_without_figures_is_not_applicable():
    assert memory.flat_verdict(None, 50.0) == "n/a"


def test_a_large_export_that_grew_little_is_streamed():
    assert memory.streamed_verdict(2.0, 16.0) == "streamed (0.12x the bytes sent <= 0.25x)"


def test_a_large_export_that_grew_with_its_size_is_a_miss():
    assert memory.streamed_verdict(20.0, 16.0) == "MISS grew 1.25x the bytes sent (> 0.25x)"


def test_a_small_export_is_not_judged():
    assert memory.streamed_verdict(2.0, 0.5) == "n/a (only 0.5 MiB sent; judged from 8 MiB)"


def test_shrinking_counts_as_no_growth():
    assert memory.streamed_verdict(-3.0, 10.0) == "streamed (0.00x the bytes sent <= 0.25x)"


def test_worker_summary_starts_after_warm_up_and_fits_mib_per_minute():
    # 50 MiB during warm-up, then +1 MiB every 10 s: 6 MiB per minute.
    samples = samples_of(7, [50.0, 60.0, 61.0, 62.0, 63.0])
    summary = memory.summarize_worker(samples, 7, warmup_s=10, served=1234)
    assert (summary.first, summary.end, summary.peak) == (60.0, 63.0, 63.0)
    assert summary.slope_per_min == pytest.approx(6.0)
    assert summary.served == 1234
    assert summary.verdict.startswith("flat (+3.0 MiB")
    assert summary.series == [50.0, 60.0, 61.0, 62.0, 63.0]


def test_worker_summary_flags_a_worker_that_grew():
    summary = memory.summarize_worker(samples_of(7, [50.0, 60.0, 70.0, 80.0]), 7, warmup_s=5, served=10)
    assert summary.verdict == "MISS grew +20.0 MiB (+33.3% > 10%)"


def test_an_idle_worker_is_not_judged_flat():
    summary = memory.summarize_worker(samples_of(7, [50.0, 50.0, 50.0]), 7, warmup_s=5, served=0)
    assert summary.verdict == "n/a (served no request)"


def test_worker_summary_flags_a_worker_gone_at_some_samples():
    samples = samples_of(7, [50.0, 51.0]) + [(20.0, {7: None})]
    summary = memory.summarize_worker(samples, 7, warmup_s=0, served=3)
    assert summary.end == 51.0
    assert summary.verdict.endswith("; MISS worker gone at some samples")


def test_stream_peak_is_taken_within_a_time_window():
    samples = samples_of(3, [10.0, 30.0, 20.0, 25.0], step=1.0)
    assert memory.stream_peak(samples, 3) == 30.0
    assert memory.stream_peak(samples, 3, 2.0) == 25.0
    assert memory.stream_peak(samples, 3, 0.0, 1.0) == 10.0
    assert memory.stream_peak(samples, 4) is None


def test_csv_line_ends_are_counted_across_chunk_boundaries():
    assert memory.count_crlf(b"id,name\r\n1,a\r\n2,b\r") == 2
    assert memory.count_crlf(b"\n3,c\r\n", previous_last=b"\r") == 2
    assert memory.count_crlf(b"\n", previous_last=b"x") == 0


# -- the mixed rotation -----------------------------------------------------------------------------


def test_weighted_order_gives_each_kind_its_weight_spread_out():
    order = memory.weighted_order({"a": 3, "b": 1})
    assert Counter(order) == {"a": 3, "b": 1}
    assert memory.weighted_order({"x": 2, "y": 2}) == ["x", "y", "x", "y"]


def test_mixed_lines_follow_the_weights_of_the_mix():
    mix = {"read": ("GET", "/c/{id}", 3), "list": ("GET", "/c?size=20", 1)}
    lines = memory.mixed_lines(["r1", "r2", "r3"], ["w1"], mix=mix, cycles=2)
    assert Counter(line.split()[0] for line in lines) == {"read": 6, "list": 2}
    assert all(len(line.split(" ")) == 3 for line in lines)


def test_mixed_lines_rotate_reads_and_writes_over_their_own_customers():
    mix = {"customer_by_id": ("GET", "/c/{id}", 1), "add_interaction": ("POST", "/c/{id}/i", 1)}
    lines = memory.mixed_lines(["r1", "r2", "r3", "r4"], ["w1", "w2"], mix=mix)
    reads = [line.split()[2] for line in lines if line.startswith("customer_by_id ")]
    writes = [line.split()[2] for line in lines if line.startswith("add_interaction ")]
    assert set(reads) == {"/c/r1", "/c/r2", "/c/r3", "/c/r4"}  # enough cycles for every read id
    assert set(writes) == {"/c/w1/i", "/c/w2/i"}
    assert all(line.split()[1] == "POST" for line in lines if line.startswith("add_interaction "))


def test_mixed_lines_encode_search_terms_and_rotate_through_them():
    mix = {"customer_search": ("GET", "/c?q={term}&size=20", 1)}
    lines = memory.mixed_lines(["r"], ["w"], terms=("amina benali", "omar.tazi"), mix=mix)
    assert lines == ["customer_search GET /c?q=amina+benali&size=20", "customer_search GET /c?q=omar.tazi&size=20"]


def test_the_default_mix_covers_every_kind_of_the_soak():
    lines = memory.mixed_lines([f"r{i}" for i in range(10)], [f"w{i}" for i in range(10)])
    assert {line.split()[0] for line in lines} == set(memory.MIX) == {
        "customer_by_id", "customer_list", "customer_search", "history", "feed", "create_customer",
        "add_interaction"}
    assert all(" " not in line.split(" ", 2)[2] for line in lines)  # one path token per line for mixed.lua


def test_mix_line_of_wrk_output_is_parsed():
    text = 'BENCH_RESULT {"requests":3}\nBENCH_MIX {"sent":{"feed":2},"statuses":{"200":2,"404":1}}\n'
    assert memory.parse_mix_output(text) == {"sent": {"feed": 2}, "statuses": {"200": 2, "404": 1}}
    assert memory.non_2xx({"200": 2, "201": 5, "404": 1, "500": 2}) == 3


def test_wrk_output_without_a_mix_line_is_an_error():
    with pytest.raises(ValueError, match="no BENCH_MIX line"):
        memory.parse_mix_output("Running 1s test\n")


# -- the report -------------------------------------------------------------------------------------


def soak_result():
    workers = [memory.summarize_worker(samples_of(11, [50.0, 60.0, 60.5, 61.0]), 11, 10, served=900),
               memory.summarize_worker(samples_of(12, [50.0, 60.0, 75.0, 80.0]), 12, 10, served=880)]
    return memory.SoakResult(seconds=30, warmup_s=3, sample_s=10, workers=workers, requests=1780, duration_s=30,
                             socket_errors=0, sent={"feed": 100, "customer_by_id": 1680},
                             statuses={"200": 1778, "404": 2})


def test_report_has_a_row_per_worker_with_its_verdict_and_the_mix():
    text = memory.render_memory(soak_result(), None, None, {"when": "now", "commit": "abc123"})
    assert "## Mixed soak: 2 workers, 30 s" in text
    assert "| 11     | 900" in text and "flat (+1.0 MiB, +1.7% <= 10%)" in text
    assert "MISS grew +20.0 MiB (+33.3% > 10%)" in text
    assert "2 non-2xx" in text and "statuses: 200 1,778, 404 2" in text
    assert "worker 12 RSS MiB every 10 s: 50.0 60.0 75.0 80.0" in text
    assert "at most 10% above" in text  # the rule is stated
    assert "## CSV export" not in text and "## Interaction feed walk" not in text


def test_report_of_export_and_feed_compares_growth_with_bytes_sent():
    export = memory.StreamResult("export", records=100000, pages=1, bytes=16 * memory.MIB, seconds=12.0,
                                 before=60.0, peak=62.0, after=61.0, complete=True, first_byte_s=0.4)
    feed = memory.StreamResult("feed", records=5000, pages=50, bytes=2 * memory.MIB, seconds=30.0, before=60.0,
                               peak=70.0, after=61.0, complete=False, page_seconds=[0.1] * 5 + [0.5] * 45,
                               early_peak=65.0, late_peak=70.0)
    text = memory.render_memory(None, export, feed, {})
    assert "| 100,000 | 16.0" in text and "0.12x" in text and "streamed (0.12x the bytes sent <= 0.25x)" in text
    assert "0.10 / 0.50" in text and "65.0 / 70.0" in text and "time budget" in text
    assert "n/a (only 2.0 MiB sent; judged from 8 MiB)" in text
    assert "## Mixed soak" not in text


def test_a_failed_export_is_a_miss_whatever_the_memory():
    export = memory.StreamResult("export", records=0, pages=1, bytes=0, seconds=0.1, before=60.0, peak=60.0,
                                 after=60.0, complete=False, status=403)
    assert memory.export_row(export)[-1] == "MISS answered 403"


# -- mixed.lua under wrk ----------------------------------------------------------------------------


class Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as gunicorn answers wrk
    seen = []

    def _answer(self, status):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        Recorder.seen.append((self.command, self.path, dict(self.headers), body))
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")
        except OSError:  # wrk hung up at the end of its run
            self.close_connection = True

    def do_GET(self):  # noqa: N802  (http.server's names)
        self._answer(404 if "missing" in self.path else 200)

    def do_POST(self):  # noqa: N802
        self._answer(201)

    def log_message(self, *args):
        pass


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_mixed_lua_sends_the_rotation_with_bodies_and_counts_statuses(tmp_path):
    Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        lines = ["customer_by_id GET /api/v1/customers/c1", "create_customer POST /api/v1/customers",
                 "add_interaction POST /api/v1/customers/c2/interactions", "feed GET /missing"]
        lines_file = tmp_path / "mixed.lines"
        lines_file.write_text("\n".join(lines) + "\n")
        result, mix = memory.run_mixed_wrk(f"http://127.0.0.1:{server.server_port}", lines_file, "tok", "t1",
                                           seconds=1, connections=1, threads=1, timeout_s=5)
    finally:
        server.shutdown()
        server.server_close()
    seen = list(Recorder.seen)
    assert result["requests"] > 4
    assert set(mix["sent"]) == {"customer_by_id", "create_customer", "add_interaction", "feed"}
    assert sum(mix["statuses"].values()) == result["requests"]
    # One connection: at most one request can be in flight when wrk stops, seen here but never answered to wrk.
    missing_seen = sum(1 for method, path, _, _ in seen if path == "/missing")
    assert missing_seen - 1 <= mix["statuses"]["404"] <= missing_seen
    assert all(headers.get("Authorization") == "Bearer tok" for _, _, headers, _ in seen)
    assert all(headers.get("Connection") == "close" for _, _, headers, _ in seen)  # spread over the workers
    creates = [json.loads(body) for method, path, _, body in seen if path == "/api/v1/customers"]
    assert creates and all(method == "POST" for method, path, _, _ in seen if path == "/api/v1/customers")
    assert len({body["email"] for body in creates}) == len(creates)  # unique per request
    assert creates[0]["email"].startswith("t1-1-")
    notes = [json.loads(body) for _, path, _, body in seen if path.endswith("/interactions")]
    assert notes and all(body["type"] == "phone" for body in notes)
    posted = [headers for method, _, headers, _ in seen if method == "POST"]
    assert all(headers.get("Content-Type") == "application/json" for headers in posted)
    gets = [(headers, body) for method, _, headers, body in seen if method == "GET"]
    assert all(body == b"" and "Content-Type" not in headers for headers, body in gets)


def test_mixed_lua_is_where_the_runner_looks():
    assert (Path(memory.LUA_DIR) / "mixed.lua").read_text().count("BENCH_MIX") >= 1
