"""docker/gunicorn.conf.py unchanged, plus per-worker counters: requests served and their handler CPU time.

The benchmark divides worker CPU by requests *served*, which wrk cannot tell: when a run ends, the
requests still in flight are served (and cost CPU) but never answered to wrk. Each worker keeps two
counters in a 16-byte memory-mapped file, BENCH_COUNT_DIR/<pid>: requests served, and nanoseconds of
CPU its request thread spent between gunicorn's pre_request and post_request hooks (the app's own
work, free of background threads). Both the service and the floor app run with this file, so the
microseconds it costs per request are the same on both sides.
"""
import mmap
import os
import struct
import threading
import time
from pathlib import Path

_SETTINGS = Path(__file__).resolve().parent.parent / "docker" / "gunicorn.conf.py"
exec(compile(_SETTINGS.read_text(), str(_SETTINGS), "exec"))  # noqa: S102  (the service's own settings)

_COUNTERS = {}
_STARTED = threading.local()
_LAYOUT = "<QQ"


def post_worker_init(worker):
    path = Path(os.environ["BENCH_COUNT_DIR"]) / str(os.getpid())
    path.write_bytes(bytes(struct.calcsize(_LAYOUT)))
    with open(path, "r+b") as file:
        _COUNTERS["map"] = mmap.mmap(file.fileno(), struct.calcsize(_LAYOUT))
    _COUNTERS["lock"] = threading.Lock()


def pre_request(worker, req):
    _STARTED.cpu_ns = time.thread_time_ns()


def post_request(worker, req, environ, resp):
    spent = time.thread_time_ns() - getattr(_STARTED, "cpu_ns", time.thread_time_ns())
    counters = _COUNTERS["map"]
    with _COUNTERS["lock"]:
        served, cpu_ns = struct.unpack_from(_LAYOUT, counters)
        struct.pack_into(_LAYOUT, counters, 0, served + 1, cpu_ns + spent)
