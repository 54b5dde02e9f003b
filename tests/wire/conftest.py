"""Wire tier: the app on a real MongoDB wire-protocol server (a throwaway secantus, or CRM_TEST_MONGO_URI)."""
import logging
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from crm_service import create_app
from crm_service.config import TestConfig
from crm_service.db import ensure_indexes, get_db

WIRE_DIR = Path(__file__).parent
URI_OPTIONS = "retryWrites=false&directConnection=true"
START_TIMEOUT_SECONDS = 20
STOP_TIMEOUT_SECONDS = 5
START_ATTEMPTS = 3


def pytest_collection_modifyitems(items):
    """Every test under tests/wire/ carries the `wire` mark (`-m "not wire"` skips the tier)."""
    for item in items:
        if WIRE_DIR in Path(item.path).parents:
            item.add_marker(pytest.mark.wire)


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(process):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _server_pid(uri):
    """The pid of the server answering at `uri` (serverStatus), or None while nothing answers."""
    client = MongoClient(uri, serverSelectionTimeoutMS=250, connectTimeoutMS=250)
    try:
        return client.admin.command("serverStatus").get("pid")
    except PyMongoError:
        return None
    finally:
        client.close()


def _start_secantus(workdir):
    """(process, uri) for a fresh in-memory server; a port lost to another process is retried."""
    # An empty config file turns off the server's search for secantusd.toml in the usual places.
    config_file = workdir / "secantusd.toml"
    config_file.write_text("")
    stderr_text = ""
    for attempt in range(START_ATTEMPTS):
        port = _free_port()
        stderr_path = workdir / f"stderr-{attempt}.log"
        with open(stderr_path, "wb") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "secantus", "--config", str(config_file), "--host", "127.0.0.1",
                 "--port", str(port), "--storage-path", ":memory:", "--log-level", "WARNING"],
                cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
            )
        uri = f"mongodb://127.0.0.1:{port}/?{URI_OPTIONS}"
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline and process.poll() is None:
            # Our child's pid, not just any answer: another server may have taken the port meanwhile.
            if _server_pid(uri) == process.pid:
                return process, uri
            time.sleep(0.05)
        exited = process.poll()
        _stop(process)
        stderr_text = stderr_path.read_text(errors="replace")
        if exited is None or "Address already in use" not in stderr_text:
            problem = f"exited with code {exited}" if exited is not None else (
                f"did not answer within {START_TIMEOUT_SECONDS}s")
            pytest.fail(f"secantus {problem}; its stderr:\n{stderr_text}", pytrace=False)
    pytest.fail(f"secantus found no free port in {START_ATTEMPTS} attempts; its stderr:\n{stderr_text}",
                pytrace=False)


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory):
    """The server for the whole session: CRM_TEST_MONGO_URI if set, else a secantus child process."""
    external = os.environ.get("CRM_TEST_MONGO_URI")
    if external:
        yield external
        return
    process, uri = _start_secantus(tmp_path_factory.mktemp("secantus"))
    try:
        yield uri
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def mongo(mongo_uri):
    """A test-side client for setting up and inspecting data, apart from the app's own client."""
    client = MongoClient(mongo_uri, tz_aware=True)
    yield client
    client.close()


@pytest.fixture(scope="session")
def server_is_secantus(mongo):
    return "secantusVersion" in mongo.admin.command("buildInfo")


@pytest.fixture
def database_name(mongo):
    name = f"crm_wire_{uuid.uuid4().hex}"
    yield name
    mongo.drop_database(name)


@pytest.fixture
def config(mongo_uri, database_name):
    config = TestConfig()
    config.MONGO_URI = mongo_uri
    config.MONGO_DB_NAME = database_name
    return config


@pytest.fixture
def app(config):
    """The app with its own client from MONGO_URI (as in production), on a fresh, indexed database."""
    app = create_app(config)
    logging.getLogger("crm_service").setLevel(logging.WARNING)
    database = get_db(app)
    ensure_indexes(database)
    yield app
    database.client.close()


@pytest.fixture
def wire_db(mongo, database_name):
    """This test's database through the test-side client."""
    return mongo[database_name]


class RestartableServer:
    """A private secantus on a fixed port and on-disk storage, that a test may kill and start again."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.storage = workdir / "data"
        self.port = _free_port()
        self.uri = f"mongodb://127.0.0.1:{self.port}/?{URI_OPTIONS}"
        self.process = None
        self.starts = 0

    def start(self):
        config_file = self.workdir / "secantusd.toml"
        config_file.write_text("")
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            self.starts += 1
            stderr_path = self.workdir / f"stderr-{self.starts}.log"
            with open(stderr_path, "wb") as stderr:
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "secantus", "--config", str(config_file), "--host", "127.0.0.1",
                     "--port", str(self.port), "--storage-path", str(self.storage), "--log-level", "WARNING",
                     # Acknowledged writes on disk at commit, as a real server's journal: a SIGKILL keeps them.
                     "--sync-on-commit"],
                    cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
                )
            while time.monotonic() < deadline and self.process.poll() is None:
                if _server_pid(self.uri) == self.process.pid:
                    return
                time.sleep(0.05)
            _stop(self.process)
            # The old process may hold the port for a moment after it died: try again until the deadline.
            time.sleep(0.2)
        pytest.fail(f"secantus did not restart on port {self.port}; its stderr:\n"
                    f"{stderr_path.read_text(errors='replace')}", pytrace=False)

    def kill(self):
        """An outage as a crash: SIGKILL, no shutdown."""
        self.process.kill()
        self.process.wait()

    def stop(self):
        if self.process is not None:
            _stop(self.process)


@pytest.fixture
def restartable_server(tmp_path):
    """A private server for outage tests (never the session's shared one): kill() it, start() it again."""
    server = RestartableServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class _NoProgress:
    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False

    def update(self, steps):
        pass


def seed_demo_database(mongo_uri, prefix, embed_limit, **sizes):
    """A new database of `crm seed-demo` data (indexes first) on the wire server; returns its name."""
    from crm_service.services.demo import seed_demo

    config = TestConfig()
    config.MONGO_URI = mongo_uri
    config.MONGO_DB_NAME = f"{prefix}_{uuid.uuid4().hex}"
    app = create_app(config)
    with app.app_context():
        database = get_db()
        ensure_indexes(database)
        seed_demo(database, staff=3, interactions=8, batch_size=1000, embed_limit=embed_limit,
                  progress=lambda total, label: _NoProgress(), **sizes)
        database.client.close()
    return config.MONGO_DB_NAME
