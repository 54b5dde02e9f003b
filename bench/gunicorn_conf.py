"""docker/gunicorn.conf.py unchanged, plus a count of the requests each worker has served.

The benchmark divides worker CPU by requests *served*, which wrk cannot tell: when a run ends, the
requests still in flight are served (and cost CPU) but never answered to wrk. Each worker keeps its
count in an 8-byte memory-mapped file, BENCH_COUNT_DIR/<pid>; both the service and the floor app run
with this file, so the microsecond it costs per request is the same on both sides.
"""
import mmap
import os
import struct
from pathlib import Path

_SETTINGS = Path(__file__).resolve().parent.parent / "docker" / "gunicorn.conf.py"
exec(compile(_SETTINGS.read_text(), str(_SETTINGS), "exec"))  # noqa: S102  (the service's own settings)

_COUNTER = {}


def post_worker_init(worker):
    path = Path(os.environ["BENCH_COUNT_DIR"]) / str(os.getpid())
    path.write_bytes(bytes(8))
    with open(path, "r+b") as file:
        _COUNTER["map"] = mmap.mmap(file.fileno(), 8)


def post_request(worker, req, environ, resp):
    counter = _COUNTER["map"]
    struct.pack_into("<Q", counter, 0, struct.unpack_from("<Q", counter)[0] + 1)
