"""Load and CPU: wrk runs, worker CPU from /proc, and waiting until a server has finished its requests."""
import json
import os
import struct
import subprocess
import time
from pathlib import Path

from bench.report import LoadResult

LUA_DIR = Path(__file__).resolve().parent / "lua"
RESULT_PREFIX = "BENCH_RESULT "
TCP_LISTEN, TCP_TIME_WAIT = "0A", "06"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def json_line(text, prefix):
    """The JSON after `prefix` on the line of wrk's output that starts with it, as a dict."""
    for line in text.splitlines():
        if line.startswith(prefix):
            return json.loads(line[len(prefix):])
    raise ValueError(f"wrk printed no {prefix.strip()} line:\n" + text[-2000:])


def parse_wrk_output(text):
    """The JSON line bench/lua/common.lua's done() prints, as a dict."""
    return json_line(text, RESULT_PREFIX)


def errors_of(result):
    return sum(result[name] for name in ("errors_connect", "errors_read", "errors_write", "errors_status",
                                         "errors_timeout"))


def children_of(pid, proc=Path("/proc")):
    """Pids whose parent is `pid` (the gunicorn workers of a master)."""
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if parse_stat(stat)["ppid"] == pid:
            found.append(int(entry.name))
    return sorted(found)


def parse_stat(text):
    """ppid, utime and stime (clock ticks) from a /proc/<pid>/stat line; the name may hold spaces."""
    fields = text[text.rindex(")") + 2:].split()
    # fields[0] is the state (field 3 of stat); ppid is field 4, utime 14, stime 15.
    return {"ppid": int(fields[1]), "utime": int(fields[11]), "stime": int(fields[12])}


def parse_schedstat(text):
    """Nanoseconds on the CPU, the first number of /proc/<pid>/task/<tid>/schedstat."""
    return int(text.split()[0])


def process_cpu_seconds(pid, proc=Path("/proc")):
    """CPU time of one process: nanosecond schedstat summed over its threads, else utime+stime ticks."""
    base = proc / str(pid)
    try:
        total = 0
        for task in (base / "task").iterdir():
            total += parse_schedstat((task / "schedstat").read_text())
        return total / 1e9
    except (OSError, ValueError, IndexError):
        stat = parse_stat((base / "stat").read_text())
        return (stat["utime"] + stat["stime"]) / CLOCK_TICKS


def cpu_seconds(pids):
    return sum(process_cpu_seconds(pid) for pid in pids)


def open_connections(port, tables=("/proc/net/tcp", "/proc/net/tcp6")):
    """Sockets on local `port` other than the listener and TIME_WAIT: requests still being served."""
    texts = []
    for table in tables:
        try:
            texts.append(Path(table).read_text())
        except OSError:
            continue
    return count_open(texts, port)


def count_open(texts, port):
    wanted = f"{port:04X}"
    count = 0
    for text in texts:
        for line in text.splitlines()[1:]:
            parts = line.split()
            if len(parts) < 4:
                continue
            local_port = parts[1].rsplit(":", 1)[-1]
            if local_port == wanted and parts[3] not in (TCP_LISTEN, TCP_TIME_WAIT):
                count += 1
    return count


def wait_until_idle(port, timeout_s=300, poll_s=0.05):
    """Wait until no connection to `port` is open: every request wrk sent has been served and counted."""
    deadline = time.monotonic() + timeout_s
    while open_connections(port):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the server on port {port} still had open connections after {timeout_s}s")
        time.sleep(poll_s)


def read_counters(count_dir, pids):
    """(requests served, handler CPU seconds) so far of the workers `pids` (bench/gunicorn_conf.py)."""
    served = cpu_ns = 0
    for pid in pids:
        try:
            more_served, more_ns = struct.unpack("<QQ", (Path(count_dir) / str(pid)).read_bytes()[:16])
        except (OSError, struct.error):
            continue
        served, cpu_ns = served + more_served, cpu_ns + more_ns
    return served, cpu_ns / 1e9


def idle_cpu_rate(pids, seconds=2.0):
    """Background CPU per second of idle workers (heartbeats, driver monitors), to subtract from runs."""
    before = cpu_seconds(pids)
    time.sleep(seconds)
    return max(0.0, (cpu_seconds(pids) - before) / seconds)


def run_wrk(url, script, paths_file, token, tag, seconds, connections, threads, timeout_s):
    env = {**os.environ, "BENCH_LUA_DIR": str(LUA_DIR), "BENCH_PATHS": str(paths_file), "BENCH_TOKEN": token,
           "BENCH_TAG": tag}
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", f"--timeout={timeout_s}s",
               "-s", str(LUA_DIR / script), url]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stderr or completed.stdout}")
    return parse_wrk_output(completed.stdout)


def measure_load(app, script, paths_file, token, tag, settings, warmup=True, seconds=None):
    """Warm up, then one timed wrk run; CPU is read once the server has served everything wrk sent.

    A slow operation skips the warm-up: one request of it outweighs any warming, and the workers
    are warm from the operations before.
    """
    url = f"http://127.0.0.1:{app.port}"
    common = {"script": script, "paths_file": paths_file, "token": token, "connections": settings.connections,
              "threads": settings.threads, "timeout_s": settings.request_timeout}
    if warmup and settings.warmup:
        run_wrk(url, tag=f"{tag}-warm", seconds=settings.warmup, **common)
    wait_until_idle(app.port, settings.request_timeout + 30)
    before, (served_before, handler_before), started = cpu_seconds(app.workers), app.counters(), time.monotonic()
    result = run_wrk(url, tag=tag, seconds=seconds or settings.duration, **common)
    wait_until_idle(app.port, settings.request_timeout + 30)
    elapsed = time.monotonic() - started
    cpu = cpu_seconds(app.workers) - before
    served, handler = app.counters()
    return LoadResult(
        requests=result["requests"], served=served - served_before, handler_cpu_s=handler - handler_before,
        cpu_s=max(0.0, cpu - app.idle_rate * elapsed),
        duration_s=result["duration_us"] / 1e6, p50_ms=result["p50_us"] / 1000, p99_ms=result["p99_us"] / 1000,
        errors=errors_of(result),
    )
