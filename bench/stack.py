"""The processes of a benchmark run: the database, the service and the floor app, and their clean stop."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bench.measure import children_of, idle_cpu_rate, read_counters

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
URI_OPTIONS = "retryWrites=false&directConnection=true"
STOP_TIMEOUT_S = 15
SETTLED_CPU_RATE = 0.02  # CPU seconds per second: workers this quiet have finished starting


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(process, name):
    """SIGTERM the process group, then SIGKILL after a grace period; safe to call twice."""
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        print(f"{name} did not stop in {STOP_TIMEOUT_S}s; killing it", flush=True)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def start_mongo(storage_path, log_path):
    """A secantusdb server (a child process, its own session) on a free loopback port; returns (process, uri)."""
    config_file = Path(log_path).with_suffix(".toml")
    config_file.write_text("")  # an empty config file turns off secantus's search for one
    port = free_port()
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "secantus", "--config", str(config_file), "--host", "127.0.0.1",
             "--port", str(port), "--storage-path", str(storage_path), "--log-level", "WARNING"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    uri = f"mongodb://127.0.0.1:{port}/?{URI_OPTIONS}"
    wait_for_mongo(uri, process)
    return process, uri


def wait_for_mongo(uri, process=None, timeout_s=60):
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the database exited with code {process.returncode}")
        client = MongoClient(uri, serverSelectionTimeoutMS=500)
        try:
            client.admin.command("ping")
            return
        except PyMongoError:
            time.sleep(0.3)
        finally:
            client.close()
    raise RuntimeError(f"the database at {uri} did not answer within {timeout_s}s")


def crm_command(env, *args):
    """`flask --app wsgi crm ...` with the benchmark's environment; output is returned, failures raise."""
    completed = subprocess.run([str(BIN / "flask"), "--app", "wsgi", "crm", *args], env=env, cwd=ROOT,
                               capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"crm {' '.join(args[:1])} failed:\n{completed.stdout}\n{completed.stderr}")
    return completed.stdout


def http_json(method, url, body=None, headers=None, timeout=30):
    """(status, parsed body) for a JSON request."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Content-Type": "application/json", "Accept": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


@dataclass
class App:
    """A gunicorn master serving `target` on a loopback port, with its workers' pids.

    Settings are docker/gunicorn.conf.py's, through bench/gunicorn_conf.py which adds request counters.
    """

    name: str
    target: str
    env: dict
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    workers: list = field(default_factory=list)
    idle_rate: float = 0.0

    @property
    def count_dir(self):
        return self.log_path.with_suffix(".counts")

    def start(self, expected_workers, timeout_s=60):
        self.count_dir.mkdir(exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(BIN / "gunicorn"), "-c", "bench/gunicorn_conf.py", "--bind", f"127.0.0.1:{self.port}",
                 self.target],
                env={**self.env, "BENCH_COUNT_DIR": str(self.count_dir)}, cwd=ROOT, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with code {self.process.returncode}; see {self.log_path}")
            self.workers = children_of(self.process.pid)
            if len(self.workers) == expected_workers and self._answers():
                # Each worker builds the app on its own: wait until none is busy, then learn the idle rate.
                while idle_cpu_rate(self.workers, 0.5) > SETTLED_CPU_RATE and time.monotonic() < deadline:
                    pass
                self.idle_rate = idle_cpu_rate(self.workers)
                return self
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not start within {timeout_s}s; see {self.log_path}")

    def _answers(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health/live", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def counters(self):
        """(requests served, handler CPU seconds) by this app's workers so far."""
        return read_counters(self.count_dir, self.workers)

    def check_workers(self):
        """The same workers as at start: a recycled or crashed worker would lose its CPU count."""
        now = children_of(self.process.pid)
        if now != self.workers:
            raise RuntimeError(f"{self.name} workers changed from {self.workers} to {now}; see {self.log_path}")

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self):
        stop(self.process, self.name)
