"""`make bench`: the service and a floor app under the same load, on the same database, in one run.

Starts secantusdb (or uses --mongo-uri), seeds each size with `crm seed-demo`, serves the service
and bench/floor_app.py with docker/gunicorn.conf.py on loopback ports, drives each operation with
wrk, and prints (and writes to bench-results/) throughput, latency, worker CPU per request, database
round trips per request and documents examined per result, with the targets of issue 6. See
bench/README.md for how to read the results.
"""
import argparse
import math
import os
import random
import secrets
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import catalogue, report  # noqa: E402
from bench.measure import measure_load  # noqa: E402
from bench.operations import SEARCH_TERMS, select  # noqa: E402
from bench.probe import SLOW_SECONDS, RoundTripCounter, probe_operation, record_ids  # noqa: E402
from bench.stack import ROOT, App, crm_command, http_json, start_mongo, stop, wait_for_mongo  # noqa: E402

ADMIN = {"username": "benchadmin", "email": "benchadmin@bench.example", "password": "bench-password-not-secret"}
SAMPLE_IDS = 500  # customers each rotating operation cycles through (reads and writes use different ones)
STARTED = time.monotonic()
WRK_INSTALL_HINT = "wrk is not installed: `apt-get install -y wrk` (Debian/Ubuntu) or `brew install wrk` (macOS)."


@dataclass
class Settings:
    duration: int
    warmup: int
    connections: int
    threads: int
    workers: int
    repeats: int
    request_timeout: int
    rounds: int = 1


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", "--customers", dest="sizes", default="5000",
                        help="customers to seed, comma-separated; two or more also compare flatness "
                             "(e.g. 10000,100000: secantusdb takes ~9 minutes to seed 100,000)")
    parser.add_argument("--interactions-per-customer", type=int, default=8,
                        help="average interactions seeded per customer (crm seed-demo --interactions)")
    parser.add_argument("--explain-only", action="store_true",
                        help="no load: seed, then print the explain() catalogue of the hot queries (plan stages, "
                             "keys/docs examined, returned) per size; wrk is not needed")
    parser.add_argument("--memory", action="store_true",
                        help="no operation table: the memory benchmark (bench/memory.py) on the last size: a mixed "
                             "soak, the CSV export and a feed walk, with the workers' RSS; wrk is needed")
    parser.add_argument("--soak-seconds", type=int, default=600, help="--memory: seconds of mixed load (0: none)")
    parser.add_argument("--feed-seconds", type=int, default=120, help="--memory: time budget of the feed walk")
    parser.add_argument("--operations", default="", help="comma-separated keys (default: all); see bench/README.md")
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per operation and app")
    parser.add_argument("--rounds", type=int, default=3,
                        help="split each operation's --duration into this many rounds, service and floor taking "
                             "turns, so a slow spell of the shared machine falls on both (slow operations: 1)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of unmeasured load first")
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (one thread each), both apps")
    parser.add_argument("--repeats", type=int, default=3, help="in-process requests per operation for round trips")
    parser.add_argument("--request-timeout", type=int, default=120,
                        help="seconds a request may take (wrk and the database socket timeout)")
    parser.add_argument("--mongo-uri", default=None,
                        help="use this server instead of starting secantusdb (databases crm_bench_<size> are "
                             "dropped and re-seeded unless already seeded at that size)")
    parser.add_argument("--data-dir", default=None,
                        help="keep secantusdb's data here and reuse seeded databases on the next run")
    parser.add_argument("--output-dir", default=str(ROOT / "bench-results"))
    return parser.parse_args(argv)


def log(message):
    print(f"[{time.monotonic() - STARTED:6.0f}s] {message}", flush=True)


def base_env(uri, db_name, settings, secret):
    env = {key: value for key, value in os.environ.items() if not key.startswith("CRM_BOOTSTRAP_")}
    env.update({
        "CRM_ENV": "production", "JWT_SECRET_KEY": secret, "MONGO_URI": uri, "MONGO_DB_NAME": db_name,
        "WEB_CONCURRENCY": str(settings.workers), "GUNICORN_THREADS": "1",
        # No recycling: a replaced worker would take its CPU count with it.
        "GUNICORN_MAX_REQUESTS": "0", "GUNICORN_TIMEOUT": str(settings.request_timeout + 30),
        "MONGO_SOCKET_TIMEOUT_MS": str(settings.request_timeout * 1000),
        "JWT_ACCESS_TOKEN_EXPIRES_SECONDS": str(6 * 3600), "RATE_LIMITS_ENABLED": "false",
        "ENSURE_INDEXES_ON_START": "false", "PYTHONDONTWRITEBYTECODE": "1",
        # The driver's monitor times out on connectTimeoutMS: a database busy with a long query must
        # not look down (that would cancel the requests in flight).
        "MONGO_CONNECT_TIMEOUT_MS": str(settings.request_timeout * 1000),
        "MONGO_SERVER_SELECTION_TIMEOUT_MS": str(settings.request_timeout * 1000),
    })
    return env


def prepare_database(client, env, db_name, size, interactions=8):
    """Seed `size` customers and the bench admin, unless this database was seeded so already."""
    database = client[db_name]
    marker = database.bench_meta.find_one({"_id": "seed"})
    if marker and marker.get("customers") == size and marker.get("interactions", 8) == interactions:
        log(f"{db_name}: reusing the data seeded earlier")
        crm_command(env, "ensure-indexes")  # indexes added to the catalogue since
        removed = remove_bench_customers(database)
        if removed:
            log(f"{db_name}: removed {removed} customers earlier runs created")
        warning = size_warning(database, size)
        if warning:
            log(f"{db_name}: WARNING: {warning}")
        return
    client.drop_database(db_name)
    crm_command(env, "ensure-indexes")
    started = time.monotonic()
    crm_command(env, "seed-demo", "--customers", str(size), "--interactions", str(interactions))
    log(f"{db_name}: seeded {size} customers in {time.monotonic() - started:.0f}s")
    crm_command(env, "create-admin", "--username", ADMIN["username"], "--email", ADMIN["email"],
                "--password", ADMIN["password"])
    database.bench_meta.replace_one({"_id": "seed"}, {"customers": size, "interactions": interactions}, upsert=True)


def size_warning(database, size):
    """A warning when a reused database does not hold the customers it was seeded with (None when it does).

    Customers written to it by anything but the bench's loads (a script, a manual test) are not removed
    on reuse, and they shift the sizes the flatness comparison is about.
    """
    held = database.customers.count_documents({})
    if held == size:
        return None
    return (f"holds {held:,} customers, not the seeded {size:,}: something other than the bench's loads "
            f"wrote to it (or deleted from it); the figures are for {held:,}")


def remove_bench_customers(database):
    """Delete the customers earlier create loads made (their address is @bench.example; the seed never uses it).

    Without this a reused "10,000" database grows by every run's creates (it held about 46,000 once),
    which shifts the sizes the flatness comparison is about. Interactions the add-interaction load
    appended to seeded customers stay: they are part of those customers' histories now.
    """
    # By the address itself: the floor's creates store fewer search terms than the service's (no domain term).
    # A scan of the collection on MongoDB too; it runs once per reused database, before any load.
    mine = {"first_name": "Bench", "email": {"$regex": r"@bench\.example$"}}
    return database.customers.delete_many(mine).deleted_count


def sample_customers(database, count):
    """Active customers with a history, picked at random (seeded, so each size gets the same draw)."""
    ids = [str(document["_id"]) for document in
           database.customers.find({"is_active": True, "interaction_count": {"$gt": 0}}, {"_id": 1})
           .limit(count * 4)]
    random.Random(42).shuffle(ids)
    return ids[:count], ids[count:2 * count] or ids[:count]


def write_paths(workdir, name, paths):
    path = Path(workdir) / f"{name}.paths"
    path.write_text("\n".join(paths) + "\n")
    return path


def in_process_app(uri, db_name, secret):
    from pymongo import MongoClient

    from crm_service import create_app
    from crm_service.config import ProductionConfig

    counter = RoundTripCounter()
    client = MongoClient(uri, event_listeners=[counter], w="majority", tz_aware=True)
    config = ProductionConfig()
    config.MONGO_URI, config.MONGO_DB_NAME, config.JWT_SECRET_KEY = uri, db_name, secret
    config.LOG_LEVEL = "WARNING"  # no access lines among the bench's output
    # As the served apps (base_env): with rate limits on, every request adds a findAndModify on rate_limits.
    config.RATE_LIMITS_ENABLED = False
    # The served workers move audit outbox entries in the background, in batches; here that would land
    # in whichever request is being counted. The probe counts a batched move apart (log_outbox_move).
    config.AUDIT_OUTBOX_SECONDS = 0
    app = create_app(config, mongo_client=client)
    counter.database = client[db_name]  # counted: for the batched outbox move after a write probe
    return app.test_client(), counter, client


def log_outbox_move(counter, key, size):
    """The batched move of the audit entries the probe's writes left in outboxes (off the request: not in
    the table's round trips), in round trips per entry moved."""
    from crm_service.repositories.audit import AuditRepository

    database = counter.database
    counter.reset()
    moved = AuditRepository(database).move_outbox(database.customers)
    if moved:
        log(f"{size}: {key}: audit outbox: {moved} entries moved in {counter.round_trips} round trips "
            f"({counter.round_trips / moved:.2f} per write, fewer as the batch grows)")


def same_answer(service, floor, service_path, floor_path, token, timeout):
    headers = {"Authorization": f"Bearer {token}"}
    status, service_body = http_json("GET", service.url(service_path), headers=headers, timeout=timeout)
    floor_status, floor_body = http_json("GET", floor.url(floor_path), headers=headers, timeout=timeout)
    if status != 200 or floor_status != 200:
        return False
    return record_ids(service_body) == record_ids(floor_body)


def run_size(size, uri, client, workdir, settings, operations, interactions=8, results=None):
    """The load table of one size; operations finished so far stay in `results` if a later one fails."""
    db_name = f"crm_bench_{size}"
    secret = secrets.token_urlsafe(48)
    env = base_env(uri, db_name, settings, secret)
    prepare_database(client, env, db_name, size, interactions)
    database = client[db_name]
    service = App("service", "wsgi:app", env, Path(workdir) / f"service-{size}.log")
    floor = App("floor", "bench.floor_app:app", env, Path(workdir) / f"floor-{size}.log")
    results = [] if results is None else results
    try:
        service.start(settings.workers)
        floor.start(settings.workers)
        status, login = http_json("POST", service.url("/api/v1/auth/login"),
                                  {"username": ADMIN["username"], "password": ADMIN["password"]})
        if status != 200:
            raise RuntimeError(f"bench admin login answered {status}: {login}")
        token = login["access_token"]
        read_ids, write_ids = sample_customers(database, SAMPLE_IDS)
        test_client, counter, probe_client = in_process_app(uri, db_name, secret)
        try:
            for operation in operations:
                results.append(run_operation(operation, size, service, floor, token, read_ids, write_ids,
                                             test_client, counter, database, workdir, settings))
        finally:
            probe_client.close()
    finally:
        service.stop()
        floor.stop()
    return results


def run_operation(operation, size, service, floor, token, read_ids, write_ids, test_client, counter, database,
                  workdir, settings):
    result = report.OperationResult(operation.key, operation.label, operation.min_round_trips, operation.not_built)
    if operation.not_built:
        log(f"{size}: {operation.label}: skipped ({operation.not_built})")
        return result
    ids = write_ids if operation.method == "POST" else read_ids
    service_paths = operation.paths(operation.service_path, ids, SEARCH_TERMS)
    floor_paths = operation.paths(operation.floor_path, ids, SEARCH_TERMS)
    tag = f"{operation.key}-{size}-{time.time_ns()}"
    probe = probe_operation(test_client, counter, database, operation, service_paths, token, f"probe-{tag}",
                            settings.repeats)
    result.round_trips, result.commands = probe.round_trips, probe.commands
    result.docs_per_result, result.keys_per_result = probe.docs_per_result, probe.keys_per_result
    if operation.method == "POST":
        log_outbox_move(counter, operation.key, size)
    if operation.method == "GET" and operation.compares_records:
        result.same_result = same_answer(service, floor, service_paths[0], floor_paths[0], token,
                                         settings.request_timeout)
    fast = probe.seconds_per_request < SLOW_SECONDS
    rounds = settings.rounds if fast else 1
    seconds = max(1, math.ceil(settings.duration / rounds))
    files = {name: write_paths(workdir, f"{operation.key}-{name}", paths)
             for name, paths in (("service", service_paths), ("floor", floor_paths))}
    loads = {"service": [], "floor": []}
    for number in range(rounds):  # turns: service, floor, service, floor, ...
        for app, name in ((service, "service"), (floor, "floor")):
            loads[name].append(measure_load(app, operation.script, files[name], token, f"{name}-{tag}-{number}",
                                            settings, warmup=fast and number == 0, seconds=seconds))
            app.check_workers()
    result.service, result.floor = report.combine(loads["service"]), report.combine(loads["floor"])
    if rounds > 1:
        ratios = [report.ratio(result.cpu_per_request(one), result.cpu_per_request(other))
                  for one, other in zip(loads["service"], loads["floor"], strict=True)]
        log(f"{size}: {operation.label}: CPU ratio by round "
            + ", ".join("-" if value is None else f"{value:.2f}" for value in ratios))
    kind = "handler" if result.judged_on_handler else "worker"
    log(f"{size}: {operation.label}: {kind} CPU/req service {report.format_ms(result.cpu_per_request(result.service))}"
        f" ms ({result.service.served} served), floor {report.format_ms(result.cpu_per_request(result.floor))} ms "
        f"({result.floor.served} served), {report.format_number(result.round_trips)} round trips")
    return result


def run_memory_size(size, uri, client, workdir, settings, args):
    """bench/memory.py on `size` customers (seeded first if needed); returns its Markdown."""
    from bench.memory import run_memory

    db_name = f"crm_bench_{size}"
    env = base_env(uri, db_name, settings, secrets.token_urlsafe(48))
    prepare_database(client, env, db_name, size, args.interactions_per_customer)
    return run_memory(uri, db_name, env, workdir, args.soak_seconds, log, feed_seconds=args.feed_seconds,
                      workers=settings.workers, connections=settings.connections, threads=settings.threads,
                      request_timeout=settings.request_timeout,
                      login={"username": ADMIN["username"], "password": ADMIN["password"]},
                      database=run_info(args.mongo_uri, 0)["database"])


def explain_size(size, uri, client, settings, interactions):
    """The explain() catalogue on `size` customers (seeded first if needed)."""
    from pymongo import MongoClient

    db_name = f"crm_bench_{size}"
    prepare_database(client, base_env(uri, db_name, settings, secrets.token_urlsafe(48)), db_name, size, interactions)
    embed_limit = int(os.environ.get("INTERACTION_EMBED_LIMIT", "500"))
    timeout_ms = settings.request_timeout * 1000
    started = time.monotonic()

    def client_factory(listener):
        return MongoClient(uri, tz_aware=True, event_listeners=[listener], socketTimeoutMS=None,
                           connectTimeoutMS=timeout_ms, serverSelectionTimeoutMS=timeout_ms)

    rows = catalogue.run_catalogue(client_factory, db_name, embed_limit)
    log(f"{size}: explained {len(rows)} queries in {time.monotonic() - started:.0f}s")
    counts = {"customers": client[db_name].customers.estimated_document_count(),
              "archived": client[db_name].interaction_archive.estimated_document_count()}
    embedded = next(client[db_name].customers.aggregate(
        [{"$group": {"_id": None, "n": {"$sum": "$embedded_count"}}}]), {"n": 0})["n"]
    counts["interactions"] = embedded + counts["archived"]
    return rows, counts


def render_explain(catalogues, info):
    lines = [f"# Explain catalogue {info['when']}", "",
             f"- commit {info['commit']}; database {info['database']}; {info['machine']}",
             "- every hot query behind the benchmarked operations, as the repositories send it, explained with "
             "executionStats; a find the code stopped reading early is explained with a limit of what it read. "
             "See bench/README.md (\"The explain catalogue\").",
             f"- total time {info['elapsed']:.0f} s", ""]
    for rows, counts in catalogues.values():
        lines += [f"## {counts['customers']:,} customers, {counts['interactions']:,} interactions "
                  f"({counts['archived']:,} archived)", "",
                  report.render_table(catalogue.HEADERS, catalogue.catalogue_rows(rows)), ""]
    sizes = list(catalogues)
    if len(sizes) > 1:
        small, large = catalogues[sizes[0]][0], catalogues[sizes[-1]][0]
        lines += [f"## Flatness: examined per returned document, {sizes[0]} vs {sizes[-1]} customers", "",
                  report.render_table(catalogue.FLATNESS_HEADERS, catalogue.flatness_rows(small, large,
                                                                                         report.FLATNESS_TARGET)),
                  ""]
    return "\n".join(lines)


def render(results_by_size, settings, info):
    lines = [f"# Benchmark {info['when']}", "",
             f"- commit {info['commit']}; database {info['database']}; {info['machine']}",
             f"- gunicorn: {settings.workers} workers x 1 thread for the service and the floor app; "
             f"wrk: {settings.threads} threads, {settings.connections} connections, {settings.warmup} s warm-up "
             f"then {settings.duration} s per operation and app, in {settings.rounds} alternating rounds "
             f"(service, floor, service, ...; slow operations in one)",
             f"- targets: service CPU/req <= {report.CPU_RATIO_TARGET}x floor; round trips <= the operation's "
             f"minimum + {report.AUTH_ROUND_TRIPS} (auth); larger/smaller size <= {report.FLATNESS_TARGET}x",
             f"- CPU/req is the workers' CPU per request served; `*` marks rows with under {report.FEW_SERVED} "
             "requests, shown and judged on handler CPU (the request thread between gunicorn's request hooks), "
             "which background threads do not blur. See bench/README.md.",
             f"- total time {info['elapsed']:.0f} s", ""]
    if info.get("failure"):
        lines += [f"**The run failed** ({info['failure']}): the tables hold the operations measured before it.", ""]
    for size, results in results_by_size.items():
        if not results:
            continue
        lines += [f"## {size} customers", "", report.render_table(report.MAIN_HEADERS,
                                                                  [report.main_row(r) for r in results]), ""]
        built = [r for r in results if not r.not_built]
        lines += [report.render_table(report.FLOOR_HEADERS, [report.floor_row(r) for r in built]), ""]
    sizes = [size for size, results in results_by_size.items() if results]
    if len(sizes) > 1:
        small, large = results_by_size[sizes[0]], results_by_size[sizes[-1]]
        measured = {result.key: result for result in large}
        rows = [report.flatness_row(a.label, a, measured[a.key]) for a in small
                if not a.not_built and a.key in measured]
        lines += [f"## Flatness: {sizes[0]} vs {sizes[-1]} customers", "",
                  report.render_table(report.FLATNESS_HEADERS, rows), ""]
    return "\n".join(lines)


def run_info(uri_given, elapsed):
    import platform
    import subprocess

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=False).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                           text=True, check=False).stdout.strip()
    if uri_given:
        database = "the server at --mongo-uri"
    else:
        from importlib.metadata import version
        database = f"secantusdb {version('secantusdb')} (local, WiredTiger on disk)"
    return {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"), "commit": commit + (" + local changes" if dirty else ""),
        "database": database, "machine": f"{os.cpu_count()} CPUs, Python {platform.python_version()}",
        "elapsed": elapsed,
    }


def main(argv=None):
    args = parse_args(argv)
    if shutil.which("wrk") is None and not args.explain_only:
        print(WRK_INSTALL_HINT, file=sys.stderr)
        return 2
    operations = select([key for key in args.operations.split(",") if key])
    sizes = [int(size) for size in args.sizes.split(",") if size]
    settings = Settings(args.duration, args.warmup, args.connections, args.threads, args.workers, args.repeats,
                        args.request_timeout, max(1, args.rounds))
    log(f"sizes {sizes}; {len(operations)} operations")
    workdir = tempfile.mkdtemp(prefix="crm-bench-")
    mongo, keep_workdir = None, True

    def interrupted(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    results_by_size, failure = {}, None
    try:
        from pymongo import MongoClient

        uri = args.mongo_uri
        if uri is None:
            storage = Path(args.data_dir).resolve() if args.data_dir else Path(workdir) / "db"
            storage.mkdir(parents=True, exist_ok=True)
            mongo, uri = start_mongo(storage, Path(workdir) / "mongo.log")
        else:
            wait_for_mongo(uri)
        client = MongoClient(uri, socketTimeoutMS=None, tz_aware=True)
        try:
            if args.memory:
                memory_text = run_memory_size(sizes[-1], uri, client, workdir, settings, args)
            for size in sizes if not args.memory else ():
                if args.explain_only:
                    results_by_size[size] = explain_size(size, uri, client, settings, args.interactions_per_customer)
                else:
                    results_by_size[size] = []
                    run_size(size, uri, client, workdir, settings, operations, args.interactions_per_customer,
                             results_by_size[size])
        finally:
            client.close()
        keep_workdir = False
    except KeyboardInterrupt:
        keep_workdir = False
        log("interrupted; servers stopped")
        return 130
    except Exception as exc:  # the load table keeps what was measured before the failure
        if args.memory or args.explain_only or not any(results_by_size.values()):
            raise
        failure = f"{type(exc).__name__}: {exc}"
        log(f"the run failed ({failure}); writing the operations measured so far")
    finally:
        stop(mongo, "the database")
        if keep_workdir:
            print(f"The run failed; server logs are kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    info = run_info(args.mongo_uri, time.monotonic() - STARTED)
    if failure:
        info["failure"] = failure
    if args.memory:
        text, prefix = memory_text, "memory-"
    elif args.explain_only:
        text, prefix = render_explain(results_by_size, info), "explain-"
    else:
        text, prefix = render(results_by_size, settings, info), ""
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    output = output_dir / f"{prefix}{time.strftime('%Y%m%d-%H%M%S')}.md"
    output.write_text(text + "\n")
    shown = "" if args.memory else "\n" + text + "\n"  # bench/memory.py has printed its report
    print(shown + f"\nWritten to {output}", flush=True)
    return 1 if failure else 0


if __name__ == "__main__":
    sys.exit(main())
