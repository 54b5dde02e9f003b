"""The image's start-up replayed without a Docker engine: its /app layout, its command, its health checks."""
import ast
import contextlib
import importlib.metadata
import importlib.util
import json
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import mongomock
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from crm_service import create_app
from crm_service.config import ConfigError
from tests.unit.test_docker_files import (
    ROOT,
    SECRET,
    compose,
    copies,
    dockerfile_env,
    exec_form,
    in_build_context,
    instructions,
)

UNREACHABLE_MONGO_URI = "mongodb://127.0.0.1:9/crm?replicaSet=rs0"  # port 9 (discard) refuses at once
INTERPOLATION = re.compile(r"\$\{(\w+)(?::([-?])([^}]*))?\}")
START_TIMEOUT_SECONDS = 30
NODE_STUB = """
const state = STATE;
let initiated = null;
const rs = {
  status() { if (!state.initiated) { throw new Error('no replset config has been received'); } return {ok: 1}; },
  initiate(config) { initiated = config; return {ok: 1}; },
};
const db = {hello() { return {isWritablePrimary: state.primary}; }};
function quit(code) { console.log(JSON.stringify(initiated)); process.exit(code); }
SCRIPT
;console.log(JSON.stringify(initiated));
"""


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(process):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def compose_environment(service, shell):
    """The service's environment as compose hands it over when `shell` holds the variables it sees."""
    def substitute(match):
        name, operator, word = match.groups()
        if shell.get(name):
            return shell[name]
        if operator == "?":
            raise ValueError(word)
        return word or ""

    environment = {}
    for key, value in (compose()["services"][service].get("environment") or {}).items():
        if value is None:  # passed through only when set
            if shell.get(key) is not None:
                environment[key] = shell[key]
        else:
            environment[key] = INTERPOLATION.sub(substitute, str(value))
    return environment


def image_environment(app_dir, **settings):
    """A clean environment like the container's: the Dockerfile's ENV, then what `docker run -e` adds."""
    environment = {key: value for key, value in dockerfile_env().items() if key != "PATH"}
    environment.update(PATH=str(Path(sys.executable).parent), HOME=str(app_dir / "nonexistent"),
                       MONGO_SERVER_SELECTION_TIMEOUT_MS="500", BCRYPT_ROUNDS="4")
    environment.update(settings)
    return environment


def run_healthcheck(command, environment):
    """Run a CMD-form health check (`python -c ...`) with this interpreter; return its exit code."""
    command = command[1:] if command[0] == "CMD" else command
    assert command[0] == "python"
    return subprocess.run([sys.executable, *command[1:]], env=environment, capture_output=True,
                          timeout=30, check=False).returncode


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory):
    """/app as the final stage lays it out: its COPY steps replayed from the build context only."""
    app_dir = tmp_path_factory.mktemp("image") / "app"
    for sources, destination in copies():
        for source in sources:
            source_path = ROOT / source
            if source_path.is_dir():
                pairs = [(path, app_dir / destination / path.relative_to(source_path))
                         for path in source_path.rglob("*") if path.is_file()]
            else:
                pairs = [(source_path, app_dir / destination)]
            for path, target in pairs:
                if in_build_context(path.relative_to(ROOT).as_posix()):
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, target)
    return app_dir


@contextlib.contextmanager
def container(app_dir, environment, logs):
    """The image's CMD run in app_dir, on loopback like `make run`; yields (base URL, stdout path, env)."""
    port = _free_port()
    environment = {**environment, "PORT": str(port)}
    command = exec_form(instructions("CMD")[-1])
    assert command[0] == "gunicorn"
    stdout_path, stderr_path = logs / f"stdout-{port}.log", logs / f"stderr-{port}.log"
    with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "gunicorn", *command[1:], "--bind", f"127.0.0.1:{port}"],
                                   cwd=app_dir, env=environment, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not serve /health/live:\n{stderr_path.read_text()}", pytrace=False)
            with contextlib.suppress(OSError):  # refused, reset, or timed out while workers boot
                urllib.request.urlopen(f"{base_url}/health/live", timeout=1).close()
                break
            time.sleep(0.1)
        yield base_url, stdout_path, environment
    finally:
        _stop(process)


def get_json(url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.load(error)


# --- the image alone, its database out of reach ---------------------------------------------------

def test_image_code_imports_in_production_without_reaching_the_database(app_dir):
    environment = image_environment(app_dir, JWT_SECRET_KEY=SECRET, MONGO_URI=UNREACHABLE_MONGO_URI)
    result = subprocess.run([sys.executable, "-c", "import crm_service, wsgi; print(crm_service.__file__)"],
                            cwd=app_dir, env=environment, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).is_relative_to(app_dir)  # the image's copy, not the repository's


@pytest.fixture(scope="module")
def offline_container(app_dir, tmp_path_factory):
    """The container after its database went away: WEB_CONCURRENCY=2, Mongo unreachable."""
    environment = image_environment(app_dir, JWT_SECRET_KEY=SECRET, MONGO_URI=UNREACHABLE_MONGO_URI,
                                    WEB_CONCURRENCY="2")
    with container(app_dir, environment, tmp_path_factory.mktemp("logs")) as running:
        yield running


def test_image_healthcheck_passes_while_the_process_serves(offline_container):
    _, _, environment = offline_container
    assert run_healthcheck(exec_form(instructions("HEALTHCHECK")[-1]), environment) == 0


def test_image_healthcheck_fails_when_nothing_listens(app_dir):
    environment = image_environment(app_dir, PORT=str(_free_port()))
    assert run_healthcheck(exec_form(instructions("HEALTHCHECK")[-1]), environment) == 1


def test_compose_readiness_check_fails_while_the_database_is_unreachable(offline_container):
    base_url, _, environment = offline_container
    assert run_healthcheck(compose()["services"]["api"]["healthcheck"]["test"], environment) == 1
    status, body = get_json(f"{base_url}/health/ready")
    assert status == 503
    assert body["code"] == "unavailable"


def test_each_request_is_logged_once_as_json_on_stdout(offline_container):
    base_url, stdout_path, _ = offline_container
    get_json(f"{base_url}/health/live", headers={"X-Request-ID": "docker-log-check"})
    lines = [line for line in stdout_path.read_text().splitlines() if "docker-log-check" in line]
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert (entry["logger"], entry["path"], entry["status"]) == ("crm_service.access", "/health/live", 200)


def test_launcher_bind_on_the_command_line_wins_over_the_settings_file(app_dir):
    # `make run` passes --bind 127.0.0.1:PORT; gunicorn prints the settings it ends up with.
    environment = image_environment(app_dir, JWT_SECRET_KEY=SECRET, MONGO_URI=UNREACHABLE_MONGO_URI,
                                    PORT="8123", WEB_CONCURRENCY="3")
    result = subprocess.run([sys.executable, "-m", "gunicorn", "-c", "docker/gunicorn.conf.py", "--bind",
                             "127.0.0.1:8124", "--print-config", "wsgi:app"],
                            cwd=app_dir, env=environment, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    printed = dict(re.split(r"\s+=\s+", line, maxsplit=1) for line in result.stdout.splitlines() if " = " in line)
    assert printed["bind"] == "['127.0.0.1:8124']"
    assert (printed["workers"], printed["preload_app"]) == ("3", "False")


# --- the compose stack, with a real wire-protocol server in MongoDB's place -----------------------

@pytest.fixture(scope="module")
def wire_server(tmp_path_factory):
    if importlib.util.find_spec("secantus") is None:
        pytest.skip("secantusdb (a development dependency) is not installed")
    workdir = tmp_path_factory.mktemp("secantus")
    (workdir / "secantusd.toml").write_text("")  # stops the search for a config file elsewhere
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "secantus", "--config", str(workdir / "secantusd.toml"), "--host", "127.0.0.1",
         "--port", str(port), "--storage-path", ":memory:", "--log-level", "WARNING"],
        cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = MongoClient(f"mongodb://127.0.0.1:{port}/?directConnection=true", serverSelectionTimeoutMS=250)
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            with contextlib.suppress(PyMongoError):
                set_name = client.admin.command("hello")["setName"]
                break
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("secantus did not start", pytrace=False)
            time.sleep(0.1)
        yield client, f"127.0.0.1:{port}", set_name
    finally:
        client.close()
        _stop(process)


@pytest.fixture(scope="module")
def compose_container(app_dir, wire_server, tmp_path_factory):
    """The api service with compose's environment; only the Mongo host and set name differ."""
    _, address, set_name = wire_server
    # Two workers keep the test quick and still race each other to create the indexes and the admin.
    shell = {"JWT_SECRET_KEY": SECRET, "WEB_CONCURRENCY": "2",
             "CRM_BOOTSTRAP_ADMIN_EMAIL": "boss@example.com", "CRM_BOOTSTRAP_ADMIN_PASSWORD": "correct-horse-9"}
    settings = compose_environment("api", shell)
    uri = settings["MONGO_URI"].replace("mongo:27017", address).replace("replicaSet=rs0", f"replicaSet={set_name}")
    assert address in uri and set_name in uri
    settings["MONGO_URI"] = uri
    with container(app_dir, image_environment(app_dir, **settings), tmp_path_factory.mktemp("logs")) as running:
        yield running


@pytest.mark.wire
def test_compose_readiness_check_passes_once_the_replica_set_answers(compose_container):
    _, _, environment = compose_container
    assert run_healthcheck(compose()["services"]["api"]["healthcheck"]["test"], environment) == 0


@pytest.mark.wire
def test_bootstrap_admin_from_compose_environment_logs_in(compose_container):
    base_url, _, _ = compose_container
    request = urllib.request.Request(f"{base_url}/api/v1/auth/login", method="POST",
                                     data=json.dumps({"username": "admin", "password": "correct-horse-9"}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        assert json.load(response)["access_token"]


@pytest.mark.wire
def test_container_creates_the_unique_indexes_at_start(compose_container, wire_server):
    client, _, _ = wire_server
    assert {"username_unique", "email_unique"} <= set(client.crm.users.index_information())
    assert client.crm.users.count_documents({"role": "admin"}) == 1  # two workers, one admin


# --- the mongo service's health check, run against a stand-in for mongosh ------------------------

@pytest.mark.parametrize(("initiated", "primary", "exit_code", "initiates"), [
    (False, False, 1, True),   # first start: initiate, then wait for the election
    (True, False, 1, False),   # initiated, election still running
    (True, True, 0, False),    # healthy: nothing to do
])
def test_mongo_healthcheck_initiates_once_and_waits_for_a_primary(initiated, primary, exit_code, initiates):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the mongosh script cannot be run here")
    script = compose()["services"]["mongo"]["healthcheck"]["test"][4]
    state = json.dumps({"initiated": initiated, "primary": primary})
    result = subprocess.run([node, "-e", NODE_STUB.replace("STATE", state).replace("SCRIPT", script)],
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == exit_code, result.stderr
    config = json.loads(result.stdout.splitlines()[-1])
    expected = {"_id": "rs0", "members": [{"_id": 0, "host": "mongo:27017"}]} if initiates else None
    assert config == expected


# --- the image installs requirements.txt only --------------------------------------------------------

def runtime_distributions():
    """requirements.txt and what it pulls in on this Python (no extras), by canonical name."""
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    pending = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    seen = set()
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in seen or (requirement.marker and not requirement.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        pending += [Requirement(text) for text in importlib.metadata.requires(name) or []]
    return seen


def test_service_code_imports_only_what_requirements_txt_installs():
    providers = importlib.metadata.packages_distributions()
    runtime = runtime_distributions()
    for path in [ROOT / "wsgi.py", *sorted((ROOT / "crm_service").rglob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules = [node.module]
            else:
                continue
            for top in {module.split(".")[0] for module in modules} - set(sys.stdlib_module_names) - {"crm_service"}:
                installed_by = {canonicalize_name(name) for name in providers.get(top, [])}
                assert installed_by & runtime, f"{path.relative_to(ROOT)} imports {top}, not in requirements.txt"


# --- what the image's environment demands of the app ---------------------------------------------

@pytest.fixture
def production_env(monkeypatch):
    monkeypatch.setenv("CRM_ENV", "production")
    monkeypatch.setenv("JWT_SECRET_KEY", SECRET)
    monkeypatch.setenv("MONGO_URI", "mongodb://mongo:27017/crm?replicaSet=rs0")
    for name in ("CRM_BOOTSTRAP_ADMIN_EMAIL", "CRM_BOOTSTRAP_ADMIN_PASSWORD", "ENSURE_INDEXES_ON_START"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_production_starts_without_writing_to_the_database(production_env):
    client = mongomock.MongoClient(tz_aware=True)
    app = create_app(mongo_client=client)
    assert app.config["CRM_ENV"] == "production"
    assert client.list_database_names() == []


def test_production_refuses_to_start_without_a_jwt_secret(production_env):
    production_env.delenv("JWT_SECRET_KEY")
    with pytest.raises(ConfigError, match="JWT_SECRET_KEY is not set"):
        create_app()


def test_production_refuses_a_jwt_secret_under_32_bytes(production_env):
    production_env.setenv("JWT_SECRET_KEY", SECRET[:-1])
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        create_app()


def test_production_refuses_to_start_without_mongo_uri(production_env):
    production_env.delenv("MONGO_URI")
    with pytest.raises(ConfigError, match="MONGO_URI is not set"):
        create_app()


def test_production_is_the_default_when_crm_env_is_unset(production_env):
    production_env.delenv("CRM_ENV")
    production_env.delenv("MONGO_URI")
    with pytest.raises(ConfigError, match="MONGO_URI is not set"):
        create_app()
