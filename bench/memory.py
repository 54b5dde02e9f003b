"""Worker memory under load (issue 6): a mixed soak, the CSV export and a walk of the interaction feed.

Three measurements, each reading the workers' resident memory (VmRSS of /proc/<pid>/status) while
the service works:

1. Mixed soak: the service with gunicorn (2 workers, the bench's settings, no worker recycling)
   under wrk and bench/lua/mixed.lua for `soak_seconds`: reads by id, list and search pages, histories,
   the feed, created customers and added interactions, interleaved by weight (MIX). RSS of every
   worker every 10 s. Judged on growth after a warm-up (FLAT_GROWTH).
2. CSV export: one worker alone, `GET /api/v1/customers/export` read in chunks and counted, never
   kept; RSS every 50 ms. A streamed export grows by far less than its size (STREAM_SHARE).
3. Feed walk: the same worker, `GET /api/v1/interactions?size=100&count=false` following
   `next_cursor` until the end or a time budget; RSS every 50 ms (FLAT_GROWTH again).

bench/run.py --memory calls run_memory() on a database it has prepared; standalone, this file runs
against an already-seeded database with the bench admin (see main()). See bench/README.md.
"""
import argparse
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import LUA_DIR, children_of, errors_of, json_line, parse_wrk_output, read_counters, wait_until_idle  # noqa: E402
from bench.operations import SEARCH_TERMS  # noqa: E402
from bench.report import render_table  # noqa: E402
from bench.stack import ROOT, App, http_json  # noqa: E402

# bench/run.py's ADMIN (not imported: run.py imports this module).
LOGIN = {"username": "benchadmin", "password": "bench-password-not-secret"}
MIX_PREFIX = "BENCH_MIX "
MIB = 1024 * 1024

# kind -> (method, path, weight). {id}: a customer from the sample, {term}: a search term.
MIX = {
    "customer_by_id": ("GET", "/api/v1/customers/{id}", 30),
    "customer_list": ("GET", "/api/v1/customers?page=1&size=20", 8),
    "customer_search": ("GET", "/api/v1/customers?q={term}&size=20", 8),
    "history": ("GET", "/api/v1/customers/{id}/interactions?size=20", 16),
    "feed": ("GET", "/api/v1/interactions?size=20&count=false", 8),
    "create_customer": ("POST", "/api/v1/customers", 10),
    "add_interaction": ("POST", "/api/v1/customers/{id}/interactions", 20),
}
SAMPLE_IDS = 500  # customers read, and customers written to, during the soak

SOAK_SAMPLE_S = 10.0
STREAM_SAMPLE_S = 0.05
WARMUP_S = 60.0  # or WARMUP_SHARE of a shorter soak
WARMUP_SHARE = 0.10
FLAT_GROWTH = 0.10  # flat: RSS at the end at most 10% above the first sample after warm-up
STREAM_SHARE = 0.25  # streamed: the worker grew by at most a quarter of the bytes it sent
STREAM_JUDGED_MIB = 8.0  # smaller exports: too small to tell streaming from loading
FEED_PAGE = "/api/v1/interactions?size=100&count=false"
EXPORT_PATH = "/api/v1/customers/export"
# Same code path as the export, no rows: loads the export's modules before the measured run, without
# leaving a full export's allocations behind (which would hide a non-streamed one).
EXPORT_WARMUP_PATH = EXPORT_PATH + "?email=memory-warmup-nobody%40bench.example"
CHUNK = 64 * 1024


# -- pure helpers (unit-tested) -------------------------------------------------------------------


def parse_vmrss_mib(text):
    """Resident memory in MiB from the text of /proc/<pid>/status; None if it has no VmRSS line."""
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            parts = line.split()
            value = int(parts[1])
            unit = parts[2].lower() if len(parts) > 2 else "kb"
            scale = {"kb": 1024, "mb": MIB, "b": 1}.get(unit)
            if scale is None:
                raise ValueError(f"unknown VmRSS unit: {line!r}")
            return value * scale / MIB
    return None


def least_squares_slope(points):
    """Slope of the least-squares line through (x, y) points; None for fewer than two distinct x."""
    points = [(x, y) for x, y in points if y is not None]
    if len(points) < 2:
        return None
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if spread == 0:
        return None
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread


def warmup_seconds(soak_seconds):
    return min(WARMUP_S, WARMUP_SHARE * soak_seconds)


def flat_verdict(first_mib, end_mib, threshold=FLAT_GROWTH):
    """`flat` when end − first <= threshold × first, else a MISS with the growth."""
    if first_mib is None or end_mib is None or first_mib <= 0:
        return "n/a"
    growth = end_mib - first_mib
    share = growth / first_mib
    if share <= threshold:
        return f"flat ({growth:+.1f} MiB, {share:+.1%} <= {threshold:.0%})"
    return f"MISS grew {growth:+.1f} MiB ({share:+.1%} > {threshold:.0%})"


def streamed_verdict(growth_mib, streamed_mib, share=STREAM_SHARE, judged_from=STREAM_JUDGED_MIB):
    """`streamed` when the worker grew by at most `share` of what it sent; small exports are not judged."""
    if growth_mib is None or streamed_mib is None:
        return "n/a"
    if streamed_mib < judged_from:
        return f"n/a (only {streamed_mib:.1f} MiB sent; judged from {judged_from:g} MiB)"
    ratio = max(growth_mib, 0.0) / streamed_mib
    if ratio <= share:
        return f"streamed ({ratio:.2f}x the bytes sent <= {share:g}x)"
    return f"MISS grew {ratio:.2f}x the bytes sent (> {share:g}x)"


@dataclass
class WorkerMemory:
    """One worker's RSS over a soak."""

    pid: int
    served: int
    first: float | None  # MiB, first sample at or after the warm-up
    end: float | None
    peak: float | None
    slope_per_min: float | None  # MiB per minute over the samples after warm-up
    series: list  # MiB at every sample (None where it could not be read)
    verdict: str


def summarize_worker(samples, pid, warmup_s, served=0, threshold=FLAT_GROWTH):
    """WorkerMemory for `pid` from [(seconds since start, {pid: MiB or None})]."""
    series = [(t, values.get(pid)) for t, values in samples]
    readable = [(t, v) for t, v in series if v is not None]
    after = [(t, v) for t, v in readable if t >= warmup_s]
    first = after[0][1] if after else None
    end = readable[-1][1] if readable else None
    peak = max((v for _, v in readable), default=None)
    slope = least_squares_slope(after)
    verdict = flat_verdict(first, end, threshold) if served else "n/a (served no request)"
    if any(v is None for _, v in series) and readable:
        verdict += "; MISS worker gone at some samples"
    return WorkerMemory(pid, served, first, end, peak, None if slope is None else slope * 60,
                        [v for _, v in series], verdict)


def stream_peak(samples, pid, start=0.0, end=float("inf")):
    """The highest readable RSS of `pid` in the samples taken in [start, end) seconds, or None."""
    return max((values[pid] for t, values in samples if start <= t < end and values.get(pid) is not None),
               default=None)


def mean_of(values):
    values = list(values)
    return sum(values) / len(values) if values else None


def count_crlf(chunk, previous_last=b""):
    """CSV line ends (\\r\\n) in `chunk`, including one split across the previous chunk's last byte."""
    found = chunk.count(b"\r\n")
    if previous_last == b"\r" and chunk[:1] == b"\n":
        found += 1
    return found


def mixed_lines(read_ids, write_ids, terms=SEARCH_TERMS, mix=None, cycles=None):
    """The lines of mixed.lua's rotation, "<kind> <METHOD> <path>", interleaved by weight.

    One cycle sends every kind its weight's worth of requests, spread out (smooth weighted
    round-robin, as nginx balances). Kinds with an {id} rotate through their own ids (reads through
    `read_ids`, the interaction POSTs through `write_ids`), the search through `terms`. Enough cycles
    are written for every rotation to come round at least once (or `cycles`).
    """
    mix = MIX if mix is None else mix
    order = weighted_order({kind: weight for kind, (_, _, weight) in mix.items()})
    if cycles is None:
        id_sends = min((weight for _, path, weight in mix.values() if "{id}" in path), default=1)
        term_sends = min((weight for _, path, weight in mix.values() if "{term}" in path), default=1)
        longest = max(-(-len(read_ids) // id_sends), -(-len(write_ids) // id_sends), -(-len(terms) // term_sends))
        cycles = max(1, longest)
    positions = dict.fromkeys(mix, 0)
    lines = []
    for _ in range(cycles):
        for kind in order:
            method, path, _ = mix[kind]
            turn = positions[kind]
            positions[kind] += 1
            if "{id}" in path:
                ids = write_ids if method == "POST" else read_ids
                # The history starts halfway through the reads: not always the customer just read by id.
                offset = len(ids) // 2 if kind == "history" else 0
                path = path.format(id=ids[(turn + offset) % len(ids)])
            elif "{term}" in path:
                path = path.format(term=urllib.parse.quote_plus(terms[turn % len(terms)]))
            lines.append(f"{kind} {method} {path}")
    return lines


def weighted_order(weights):
    """One cycle of kinds, each `weight` times, spread out (smooth weighted round-robin)."""
    current = dict.fromkeys(weights, 0)
    total = sum(weights.values())
    order = []
    for _ in range(total):
        for kind, weight in weights.items():
            current[kind] += weight
        chosen = max(current, key=lambda kind: current[kind])
        current[chosen] -= total
        order.append(chosen)
    return order


def parse_mix_output(text):
    """The BENCH_MIX line mixed.lua's done() prints: {"sent": {kind: n}, "statuses": {"200": n}}."""
    return json_line(text, MIX_PREFIX)


def non_2xx(statuses):
    return sum(count for status, count in statuses.items() if not str(status).startswith("2"))


@dataclass
class SoakResult:
    seconds: float
    warmup_s: float
    sample_s: float
    workers: list  # WorkerMemory
    requests: int  # answers wrk received
    duration_s: float
    socket_errors: int  # connect/read/write/timeout errors
    sent: dict = field(default_factory=dict)  # kind -> requests sent
    statuses: dict = field(default_factory=dict)  # "200" -> answers

    @property
    def non_2xx(self):
        return non_2xx(self.statuses)


@dataclass
class StreamResult:
    """One worker streaming a long answer: the export or the feed walk."""

    what: str
    records: int  # CSV rows or interactions
    pages: int  # feed pages (1 for the export)
    bytes: int
    seconds: float
    before: float | None
    peak: float | None
    after: float | None
    complete: bool  # the export ended / the feed's next_cursor ran out (not the time budget)
    status: int = 200
    first_byte_s: float | None = None
    page_seconds: list = field(default_factory=list)  # the feed: seconds per page, in walk order
    early_peak: float | None = None  # the feed: peak RSS in the first half of the walk (time), ...
    late_peak: float | None = None  # ... and in the second half: memory that grows with depth shows here

    @property
    def growth(self):
        if self.before is None or self.peak is None:
            return None
        return self.peak - self.before

    @property
    def mib(self):
        return self.bytes / MIB


def _mib(value):
    return "-" if value is None else f"{value:.1f}"


SOAK_HEADERS = ("worker", "requests served", "RSS after warm-up MiB", "RSS end MiB", "RSS max MiB",
                "growth MiB/min", "verdict")
EXPORT_HEADERS = ("rows", "MiB sent", "seconds", "first byte s", "RSS before MiB", "RSS peak MiB",
                  "peak − before MiB", "growth / bytes sent", "RSS after MiB", "verdict")
FEED_HEADERS = ("pages", "interactions", "MiB sent", "seconds", "s/page first 5 / last 5", "ended",
                "RSS before MiB", "RSS peak MiB 1st half / 2nd half", "RSS after MiB", "peak − before MiB",
                "growth / bytes sent", "verdict")
EDGE_PAGES = 5


def soak_rows(soak):
    return [[str(w.pid), str(w.served), _mib(w.first), _mib(w.end), _mib(w.peak),
             "-" if w.slope_per_min is None else f"{w.slope_per_min:+.2f}", w.verdict] for w in soak.workers]


def growth_ratio(stream):
    growth = stream.growth
    return "-" if growth is None or not stream.bytes else f"{max(growth, 0.0) / stream.mib:.2f}x"


def export_row(export):
    growth, ratio = export.growth, growth_ratio(export)
    verdict = (f"MISS answered {export.status}" if export.status != 200
               else streamed_verdict(growth, export.mib))
    return [f"{export.records:,}", f"{export.mib:.1f}", f"{export.seconds:.1f}",
            "-" if export.first_byte_s is None else f"{export.first_byte_s:.2f}", _mib(export.before),
            _mib(export.peak), "-" if growth is None else f"{growth:+.1f}", ratio, _mib(export.after), verdict]


def feed_row(feed):
    growth = feed.growth
    verdict = (f"MISS answered {feed.status}" if feed.status != 200
               else streamed_verdict(growth, feed.mib))
    first = mean_of(feed.page_seconds[:EDGE_PAGES])
    last = mean_of(feed.page_seconds[-EDGE_PAGES:])
    per_page = "-" if first is None else f"{first:.2f} / {last:.2f}"
    return [str(feed.pages), f"{feed.records:,}", f"{feed.mib:.1f}", f"{feed.seconds:.1f}", per_page,
            "end of feed" if feed.complete else "time budget", _mib(feed.before),
            f"{_mib(feed.early_peak)} / {_mib(feed.late_peak)}", _mib(feed.after),
            "-" if growth is None else f"{growth:+.1f}", growth_ratio(feed), verdict]


def render_memory(soak, export, feed, info):
    """The Markdown report of one memory run (soak, export, feed: any may be None)."""
    lines = [f"# Memory {info.get('when', '')}".rstrip(), ""]
    for key in ("commit", "database", "machine", "customers"):
        if info.get(key):
            lines.append(f"- {key}: {info[key]}")
    lines += [
        "- RSS is VmRSS of /proc/<pid>/status (resident memory, MiB = 2^20 bytes) of each gunicorn worker; "
        "workers are not recycled (GUNICORN_MAX_REQUESTS=0), so growth would show. See bench/README.md.",
        f"- targets: soak flat = each worker's RSS at the end at most {FLAT_GROWTH:.0%} above its first sample "
        f"after warm-up; export and feed walk streamed = the worker's peak RSS at most {STREAM_SHARE:g}x the "
        f"bytes it sent above its RSS before (judged from {STREAM_JUDGED_MIB:g} MiB sent: below that, a "
        "bounded buffer cannot be told from a loaded collection)",
        "",
    ]
    if soak is not None:
        minutes = soak.seconds / 60
        lines += [f"## Mixed soak: {len(soak.workers)} workers, {soak.seconds:.0f} s ({minutes:.1f} min)", "",
                  f"- RSS sampled every {soak.sample_s:g} s; warm-up {soak.warmup_s:g} s (the first {WARMUP_S:g} s, "
                  f"or {WARMUP_SHARE:.0%} of a shorter soak); growth = least-squares slope after warm-up",
                  f"- wrk: {soak.requests:,} answers in {soak.duration_s:.0f} s "
                  f"({soak.requests / soak.duration_s if soak.duration_s else 0:.1f}/s), "
                  f"{soak.non_2xx} non-2xx, {soak.socket_errors} socket errors/timeouts",
                  "- sent: " + ", ".join(f"{kind} {count:,}" for kind, count in sorted(soak.sent.items())),
                  "- statuses: " + (", ".join(f"{status} {count:,}" for status, count in sorted(soak.statuses.items()))
                                    or "none"),
                  "", render_table(SOAK_HEADERS, soak_rows(soak)), ""]
        for worker in soak.workers:
            series = " ".join(_mib(value) for value in worker.series)
            lines.append(f"- worker {worker.pid} RSS MiB every {soak.sample_s:g} s: {series}")
        lines.append("")
    if export is not None:
        lines += ["## CSV export, one worker", "",
                  f"- `GET {EXPORT_PATH}` (the active customers, its default filter) read in {CHUNK // 1024} KiB "
                  f"chunks and counted, not kept; RSS every {STREAM_SAMPLE_S * 1000:.0f} ms; before = after a "
                  "warm-up export with no rows",
                  "", render_table(EXPORT_HEADERS, [export_row(export)]), ""]
    if feed is not None:
        lines += ["## Interaction feed walk, same worker", "",
                  f"- `GET {FEED_PAGE}` following `next_cursor` until the end or the time budget; RSS every "
                  f"{STREAM_SAMPLE_S * 1000:.0f} ms; before = after one warm-up page. The peak of each half of the "
                  "walk (by time) shows whether memory grows with depth; seconds per page of the first and last "
                  f"{EDGE_PAGES} pages, whether each page costs more the deeper it is",
                  "", render_table(FEED_HEADERS, [feed_row(feed)]), ""]
    return "\n".join(lines)


# -- /proc and processes ---------------------------------------------------------------------------


def rss_mib(pid, proc=Path("/proc")):
    try:
        return parse_vmrss_mib((proc / str(pid) / "status").read_text())
    except (OSError, ValueError):
        return None


class RssSampler:
    """Samples the RSS of `pids` every `interval_s` in a thread: [(seconds since start, {pid: MiB})]."""

    def __init__(self, pids, interval_s):
        self.pids, self.interval_s = list(pids), interval_s
        self.samples = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.started = None

    def sample(self):
        self.samples.append((time.monotonic() - self.started, {pid: rss_mib(pid) for pid in self.pids}))

    def _run(self):
        ticks = 0
        while True:
            self.sample()
            ticks += 1
            if self._stop.wait(max(0.0, self.started + ticks * self.interval_s - time.monotonic())):
                return

    def __enter__(self):
        self.started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.sample()  # the end, whatever the interval
        return False


# -- the three measurements -----------------------------------------------------------------------


def login_token(app, login):
    status, body = http_json("POST", app.url("/api/v1/auth/login"), login)
    if status != 200:
        raise RuntimeError(f"bench admin login answered {status}: {body}")
    return body["access_token"]


def sample_customer_ids(uri, db_name, count=SAMPLE_IDS):
    """(read ids, write ids): active customers with a history, in a seeded random order."""
    from pymongo import MongoClient

    client = MongoClient(uri, tz_aware=True, socketTimeoutMS=None)
    try:
        ids = [str(document["_id"]) for document in client[db_name].customers.find(
            {"is_active": True, "interaction_count": {"$gt": 0}}, {"_id": 1}).limit(count * 2)]
        customers = client[db_name].customers.estimated_document_count()
    finally:
        client.close()
    if not ids:
        raise RuntimeError(f"{db_name} has no active customer with interactions: seed it first (crm seed-demo)")
    random.Random(42).shuffle(ids)
    return ids[:count], ids[count:2 * count] or ids[:count], customers


def run_mixed_wrk(url, lines_file, token, tag, seconds, connections, threads, timeout_s):
    env = {**os.environ, "BENCH_LUA_DIR": str(LUA_DIR), "BENCH_PATHS": str(lines_file), "BENCH_TOKEN": token,
           "BENCH_TAG": tag}
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", f"--timeout={timeout_s}s",
               "-s", str(LUA_DIR / "mixed.lua"), url]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stderr or completed.stdout}")
    return parse_wrk_output(completed.stdout), parse_mix_output(completed.stdout)


def app_env(env, workers):
    # No recycling: a replaced worker would start small again and hide growth.
    return {**env, "WEB_CONCURRENCY": str(workers), "GUNICORN_MAX_REQUESTS": "0"}


def soak(env, workdir, lines, seconds, log, login=LOGIN, workers=2, connections=2, threads=2,
         request_timeout=120, sample_s=SOAK_SAMPLE_S):
    app = App("memory-soak", "wsgi:app", app_env(env, workers), Path(workdir) / "memory-soak.log")
    lines_file = Path(workdir) / "memory-mixed.lines"
    lines_file.write_text("\n".join(lines) + "\n")
    try:
        app.start(workers)
        token = login_token(app, login)
        log(f"memory: soak of {seconds} s on workers {app.workers} (RSS every {sample_s:g} s)")
        with RssSampler(app.workers, sample_s) as sampler:
            result, mix = run_mixed_wrk(f"http://127.0.0.1:{app.port}", lines_file, token,
                                        f"soak-{time.time_ns()}", seconds, connections, threads, request_timeout)
            wait_until_idle(app.port, request_timeout + 30)
        now = children_of(app.process.pid)
        warmup = warmup_seconds(seconds)
        summaries = []
        for pid in app.workers:
            served, _ = read_counters(app.count_dir, [pid])
            summary = summarize_worker(sampler.samples, pid, warmup, served)
            if pid not in now:
                summary.verdict += "; MISS worker replaced"
            summaries.append(summary)
        return SoakResult(seconds=seconds, warmup_s=warmup, sample_s=sample_s, workers=summaries,
                          requests=result["requests"], duration_s=result["duration_us"] / 1e6,
                          socket_errors=errors_of(result) - result["errors_status"],
                          sent=mix["sent"], statuses=mix["statuses"])
    finally:
        app.stop()


def export_stream(app, token, request_timeout=120, sample_s=STREAM_SAMPLE_S):
    """Stream the CSV export once (after a warm-up export with no rows), sampling the worker's RSS."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/csv"}
    with urllib.request.urlopen(urllib.request.Request(app.url(EXPORT_WARMUP_PATH), headers=headers),
                                timeout=request_timeout) as response:
        response.read()
    pid = app.workers[0]
    before = rss_mib(pid)
    lines = size = 0
    last = b""
    status, first_byte = 200, None
    started = time.monotonic()
    with RssSampler([pid], sample_s) as sampler:
        try:
            with urllib.request.urlopen(urllib.request.Request(app.url(EXPORT_PATH), headers=headers),
                                        timeout=request_timeout) as response:
                while chunk := response.read1(CHUNK):
                    if first_byte is None:
                        first_byte = time.monotonic() - started
                    lines += count_crlf(chunk, last)
                    size += len(chunk)
                    last = chunk[-1:]
        except urllib.error.HTTPError as exc:
            status = exc.code
        seconds = time.monotonic() - started
    return StreamResult("export", records=max(lines - 1, 0), pages=1, bytes=size, seconds=seconds, before=before,
                        peak=stream_peak(sampler.samples, pid), after=rss_mib(pid), complete=status == 200,
                        status=status, first_byte_s=first_byte)


def feed_walk(app, token, budget_s, request_timeout=120, sample_s=STREAM_SAMPLE_S):
    """Follow the feed's next_cursor from the first page until it ends or `budget_s` has passed."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def page(cursor):
        path = FEED_PAGE + ("" if cursor is None else "&cursor=" + urllib.parse.quote(cursor, safe=""))
        request = urllib.request.Request(app.url(path), headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=request_timeout) as response:
                body = response.read()
                return response.status, json.loads(body), len(body)
        except urllib.error.HTTPError as exc:
            return exc.code, None, 0

    status, _, _ = page(None)  # warm-up: the feed's code and first query
    pid = app.workers[0]
    before = rss_mib(pid)
    pages = records = size = 0
    cursor, complete, page_seconds = None, False, []
    started = time.monotonic()
    with RssSampler([pid], sample_s) as sampler:
        while status == 200 and time.monotonic() - started < budget_s:
            asked = time.monotonic()
            status, body, length = page(cursor)
            if status != 200:
                break
            page_seconds.append(time.monotonic() - asked)
            pages, records, size = pages + 1, records + len(body["items"]), size + length
            cursor = body.get("next_cursor")
            if not cursor:
                complete = True
                break
        seconds = time.monotonic() - started
    half = seconds / 2
    return StreamResult("feed", records=records, pages=pages, bytes=size, seconds=seconds, before=before,
                        peak=stream_peak(sampler.samples, pid), after=rss_mib(pid), complete=complete,
                        status=status, page_seconds=page_seconds, early_peak=stream_peak(sampler.samples, pid, 0, half),
                        late_peak=stream_peak(sampler.samples, pid, half))


def run_info(customers=None):
    import platform

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=False).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                           text=True, check=False).stdout.strip()
    return {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "commit": commit + (" + local changes" if dirty else ""),
            "machine": f"{os.cpu_count()} CPUs, Python {platform.python_version()}",
            "customers": None if customers is None else f"{customers:,} in the database before the soak"}


def run_memory(uri, db_name, env, workdir, soak_seconds=600, log=print, *, feed_seconds=120, workers=2,
               connections=2, threads=2, request_timeout=120, login=LOGIN, database=None):
    """The three measurements on a prepared database (seeded, with the bench admin); returns the Markdown.

    `env` is the served apps' environment (bench/run.py's base_env); WEB_CONCURRENCY and
    GUNICORN_MAX_REQUESTS are set here. Progress goes to `log`; the report is printed and returned,
    and the caller writes it to bench-results/memory-<time>.md. `database` describes the server in
    the report's header. soak_seconds=0 skips the soak.
    """
    read_ids, write_ids, customers = sample_customer_ids(uri, db_name)
    lines = mixed_lines(read_ids, write_ids)
    soak_result = None
    if soak_seconds > 0:
        soak_result = soak(env, workdir, lines, soak_seconds, log, login, workers, connections, threads,
                           request_timeout)
        for worker in soak_result.workers:
            log(f"memory: soak worker {worker.pid}: {_mib(worker.first)} -> {_mib(worker.end)} MiB, {worker.verdict}")
    single = App("memory-single", "wsgi:app", app_env(env, 1), Path(workdir) / "memory-single.log")
    try:
        single.start(1)
        token = login_token(single, login)
        log(f"memory: CSV export on worker {single.workers[0]}")
        export = export_stream(single, token, request_timeout)
        log(f"memory: export {export.records:,} rows, {export.mib:.1f} MiB in {export.seconds:.1f} s, "
            f"RSS {_mib(export.before)} -> peak {_mib(export.peak)} MiB")
        log(f"memory: feed walk for up to {feed_seconds} s")
        feed = feed_walk(single, token, feed_seconds, request_timeout)
        log(f"memory: feed {feed.pages} pages, {feed.records:,} interactions, RSS {_mib(feed.before)} -> peak "
            f"{_mib(feed.peak)} MiB")
    finally:
        single.stop()
    info = run_info(customers)
    info["database"] = database
    text = render_memory(soak_result, export, feed, info)
    print("\n" + text, flush=True)
    return text


# -- standalone -----------------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Worker memory under a mixed soak, the CSV export and the feed "
                                                 "walk, against an already-seeded database with the bench admin")
    parser.add_argument("--mongo-uri", required=True)
    parser.add_argument("--db-name", required=True)
    parser.add_argument("--soak-seconds", type=int, default=600, help="0 skips the soak")
    parser.add_argument("--feed-seconds", type=int, default=120, help="time budget of the feed walk")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (one thread each) of the soak")
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--request-timeout", type=int, default=120)
    parser.add_argument("--output-dir", default=str(ROOT / "bench-results"))
    return parser.parse_args(argv)


def main(argv=None):
    from bench.run import Settings, base_env, log  # noqa: PLC0415  (run.py imports this module lazily too)

    args = parse_args(argv)
    if shutil.which("wrk") is None and args.soak_seconds > 0:
        print("wrk is not installed: `apt-get install -y wrk` (Debian/Ubuntu) or `brew install wrk` (macOS).",
              file=sys.stderr)
        return 2
    settings = Settings(duration=args.soak_seconds, warmup=0, connections=args.connections, threads=args.threads,
                        workers=args.workers, repeats=0, request_timeout=args.request_timeout)
    env = base_env(args.mongo_uri, args.db_name, settings, secrets.token_urlsafe(48))

    def interrupted(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    workdir = tempfile.mkdtemp(prefix="crm-memory-")
    keep = True
    try:
        text = run_memory(args.mongo_uri, args.db_name, env, workdir, args.soak_seconds, log,
                          feed_seconds=args.feed_seconds, workers=args.workers, connections=args.connections,
                          threads=args.threads, request_timeout=args.request_timeout,
                          database=f"{args.db_name} at --mongo-uri")
        keep = False
    except KeyboardInterrupt:
        keep = False
        log("interrupted; servers stopped")
        return 130
    finally:
        if keep:
            print(f"The run failed; server logs are kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    output = output_dir / f"memory-{time.strftime('%Y%m%d-%H%M%S')}.md"
    output.write_text(text + "\n")
    print(f"\nWritten to {output}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
