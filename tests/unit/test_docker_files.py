"""docker/ read as Docker would read it: compose.yaml, the Dockerfile, .dockerignore, gunicorn settings."""
import json
import os
import re
import runpy
import shutil
import subprocess
import types
from pathlib import Path

import pytest
import yaml
from gunicorn.config import Config as GunicornConfig
from pymongo import uri_parser

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
GUNICORN_CONF = DOCKER / "gunicorn.conf.py"
SECRET = "k" * 32  # the shortest secret production accepts
GUNICORN_ENV = ("PORT", "WEB_CONCURRENCY", "GUNICORN_THREADS", "GUNICORN_TIMEOUT", "GUNICORN_GRACEFUL_TIMEOUT",
                "GUNICORN_MAX_REQUESTS", "GUNICORN_LOG_LEVEL", "FORWARDED_ALLOW_IPS",
                "TRUSTED_PROXY_COUNT", "GUNICORN_KEEPALIVE")
SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|_KEY$", re.IGNORECASE)


# --- readers shared with test_docker_runtime.py -------------------------------------------------

def compose():
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def dockerfile_stages():
    """[(base image, [(INSTRUCTION, arguments), ...]), ...], continuation lines joined."""
    text = re.sub(r"\\\n", " ", (DOCKER / "Dockerfile").read_text())
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, arguments = line.partition(" ")
        if instruction.upper() == "FROM":
            stages.append((arguments.split()[0], []))
        stages[-1][1].append((instruction.upper(), arguments.strip()))
    return stages


def instructions(name, stage=-1):
    return [arguments for instruction, arguments in dockerfile_stages()[stage][1] if instruction == name]


def copies(stage=-1):
    """(sources, destination) of each COPY from the build context (not from another stage)."""
    result = []
    for arguments in instructions("COPY", stage):
        tokens = arguments.split()
        if any(token.startswith("--from") for token in tokens):
            continue
        paths = [token for token in tokens if not token.startswith("--")]
        result.append((paths[:-1], paths[-1]))
    return result


def dockerfile_env(stage=-1):
    env = {}
    for arguments in instructions("ENV", stage):
        env.update(pair.split("=", 1) for pair in arguments.split())
    return env


def exec_form(arguments):
    """The JSON array of a CMD, or of a HEALTHCHECK after its --options and CMD."""
    arguments = re.sub(r"^(--\S+\s+)*(CMD\s+)?", "", arguments)
    return json.loads(arguments)


def _glob_regex(pattern):
    parts, index = [], 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            parts.append("(?:.*/)?")
            index += 3
        elif pattern.startswith("**", index):
            parts.append(".*")
            index += 2
        elif pattern[index] == "*":
            parts.append("[^/]*")
            index += 1
        elif pattern[index] == "?":
            parts.append("[^/]")
            index += 1
        elif pattern[index] == "[":
            end = pattern.index("]", index)
            parts.append(pattern[index:end + 1])
            index = end + 1
        else:
            parts.append(re.escape(pattern[index]))
            index += 1
    return re.compile("".join(parts) + r"\Z")


def in_build_context(relative_path):
    """Docker's rule: the last .dockerignore line matching the path or a parent folder decides."""
    parts = Path(relative_path).parts
    prefixes = ["/".join(parts[:count]) for count in range(1, len(parts) + 1)]
    included = True
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        regex = _glob_regex(line.lstrip("!").strip("/"))
        if any(regex.match(prefix) for prefix in prefixes):
            included = line.startswith("!")
    return included


# --- compose.yaml --------------------------------------------------------------------------------

def test_compose_runs_the_api_and_mongodb():
    assert set(compose()["services"]) == {"mongo", "api"}


def test_mongo_is_the_official_image_at_version_7_or_later():
    image = compose()["services"]["mongo"]["image"]
    name, _, tag = image.partition(":")
    assert name == "mongo"
    assert int(tag.split(".")[0]) >= 7


def test_mongo_runs_as_a_replica_set_listening_beyond_localhost():
    command = compose()["services"]["mongo"]["command"]
    assert command[command.index("--replSet") + 1] == "rs0"
    assert "--bind_ip_all" in command


def test_mongo_keeps_its_data_in_named_volumes():
    spec = compose()
    mounts = dict(volume.split(":", 1) for volume in spec["services"]["mongo"]["volumes"])
    assert mounts["mongo-data"] == "/data/db"
    assert set(mounts) <= set(spec["volumes"])


def test_mongo_healthcheck_initiates_the_set_with_the_service_hostname():
    healthcheck = compose()["services"]["mongo"]["healthcheck"]
    assert healthcheck["test"][:4] == ["CMD", "mongosh", "--quiet", "--eval"]
    script = healthcheck["test"][4]
    assert "rs.initiate({_id: 'rs0', members: [{_id: 0, host: 'mongo:27017'}]})" in script
    assert "isWritablePrimary" in script
    assert healthcheck["start_period"] and healthcheck["retries"] >= 3


def test_api_is_built_from_the_repository_root_with_docker_dockerfile():
    build = compose()["services"]["api"]["build"]
    context = (DOCKER / build["context"]).resolve()
    assert context == ROOT
    assert (context / build["dockerfile"]).resolve() == DOCKER / "Dockerfile"


def test_api_starts_only_once_mongo_is_healthy():
    assert compose()["services"]["api"]["depends_on"] == {"mongo": {"condition": "service_healthy"}}


def test_api_connects_to_the_replica_set_with_retryable_writes_on():
    parsed = uri_parser.parse_uri(compose()["services"]["api"]["environment"]["MONGO_URI"])
    assert parsed["nodelist"] == [("mongo", 27017)]
    assert parsed["options"]["replicaSet"] == "rs0"
    assert parsed["options"].get("retryWrites", True) is True


def test_api_takes_the_jwt_secret_from_the_environment_and_requires_it():
    value = compose()["services"]["api"]["environment"]["JWT_SECRET_KEY"]
    assert re.fullmatch(r"\$\{JWT_SECRET_KEY:\?[^}]+\}", value)


def test_compose_hard_codes_no_secret():
    for name, service in compose()["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(key) and value is not None:
                assert re.fullmatch(r"\$\{\w+(:[-?][^}]*)?\}", value), f"{name}.{key} is hard-coded"


def test_api_passes_optional_settings_through_unset_rather_than_empty():
    # `${VAR:-}` would hand gunicorn an empty WEB_CONCURRENCY, which it cannot parse.
    environment = compose()["services"]["api"]["environment"]
    for key in ("CRM_BOOTSTRAP_ADMIN_EMAIL", "CRM_BOOTSTRAP_ADMIN_PASSWORD", "WEB_CONCURRENCY"):
        assert key in environment and environment[key] is None


def test_api_runs_hardened_with_a_read_only_root_and_tmpfs():
    api = compose()["services"]["api"]
    assert api["read_only"] is True
    assert api["tmpfs"] == ["/tmp"]
    assert api["cap_drop"] == ["ALL"]
    assert api["restart"] == "unless-stopped"
    assert api["ports"] == ["8000:8000"]


def test_api_healthcheck_probes_readiness():
    test = compose()["services"]["api"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    assert "/health/ready" in test[3]


def test_api_stop_grace_outlasts_gunicorn_graceful_timeout(monkeypatch):
    grace = compose()["services"]["api"]["stop_grace_period"]
    assert int(grace.rstrip("s")) > load_settings(monkeypatch)["graceful_timeout"]


# --- Dockerfile and .dockerignore ----------------------------------------------------------------

def test_every_stage_builds_on_python_311_slim():
    assert {base for base, _ in dockerfile_stages()} == {"python:3.11-slim"}


def test_image_installs_runtime_requirements_only():
    text = (DOCKER / "Dockerfile").read_text()
    assert "requirements-dev" not in text
    assert any("pip install -r /tmp/requirements.txt" in run for run in instructions("RUN", 0))
    assert copies(0) == [(["requirements.txt"], "/tmp/requirements.txt")]


def test_image_runs_as_a_fixed_non_root_user():
    user = instructions("USER")[-1]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0
    assert any(f"--uid {uid}" in run and "useradd" in run for run in instructions("RUN"))


def test_image_environment_is_production():
    env = dockerfile_env()
    assert env["CRM_ENV"] == "production"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1" and env["PYTHONUNBUFFERED"] == "1"
    assert env["PORT"] == "8000" and instructions("EXPOSE") == ["8000"]


def test_image_copies_the_code_and_the_gunicorn_settings_into_app():
    assert instructions("WORKDIR") == ["/app"]
    assert copies() == [(["crm_service/"], "crm_service/"), (["wsgi.py"], "wsgi.py"),
                        (["docker/gunicorn.conf.py"], "docker/gunicorn.conf.py")]


def test_every_copied_file_exists_and_is_in_the_build_context():
    for stage in range(len(dockerfile_stages())):
        for sources, _ in copies(stage):
            for source in sources:
                assert (ROOT / source).exists(), source
                assert in_build_context(source.rstrip("/")), f"{source} is left out by .dockerignore"


@pytest.mark.parametrize("path", [
    ".env", ".venv/bin/python", "var/secantus/WiredTiger", ".git/HEAD", ".pytest_cache/v/x", ".ruff_cache/x",
    "tests/conftest.py", "crm_service/__pycache__/db.cpython-311.pyc", "crm_service/.env", "docker/compose.yaml",
])
def test_build_context_leaves_out_local_state_and_secrets(path):
    assert not in_build_context(path)


def test_image_command_is_gunicorn_with_the_copied_settings():
    command = exec_form(instructions("CMD")[-1])
    assert command == ["gunicorn", "-c", "docker/gunicorn.conf.py", "wsgi:app"]
    assert (["docker/gunicorn.conf.py"], command[2]) in copies()


def test_image_healthcheck_probes_liveness_with_python():
    healthcheck = instructions("HEALTHCHECK")[-1]
    command = exec_form(healthcheck)
    assert command[:2] == ["python", "-c"] and "/health/live" in command[2]
    assert "--start-period=" in healthcheck


# --- gunicorn.conf.py ----------------------------------------------------------------------------

def load_settings(monkeypatch, **env):
    """Run docker/gunicorn.conf.py as gunicorn does and return the names it defines."""
    for name in GUNICORN_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    namespace = runpy.run_path(str(GUNICORN_CONF))
    return {name: value for name, value in namespace.items()
            if not name.startswith("_") and not isinstance(value, types.ModuleType)}


def test_every_setting_is_one_gunicorn_knows_and_accepts(monkeypatch):
    config = GunicornConfig()
    for name, value in load_settings(monkeypatch).items():
        assert name in config.settings, f"{name} is not a gunicorn setting (a typo is silently ignored)"
        config.set(name, value)


def test_binds_every_interface_on_port(monkeypatch):
    assert load_settings(monkeypatch)["bind"] == ["0.0.0.0:8000"]
    assert load_settings(monkeypatch, PORT="8123")["bind"] == ["0.0.0.0:8123"]


def test_worker_count_comes_from_web_concurrency(monkeypatch):
    assert load_settings(monkeypatch, WEB_CONCURRENCY="3")["workers"] == 3


@pytest.mark.parametrize(("cpus", "workers"), [(1, 3), (2, 5), (16, 8)])
def test_default_worker_count_is_two_per_cpu_plus_one_at_most_eight(monkeypatch, cpus, workers):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cpus)), raising=False)
    assert load_settings(monkeypatch)["workers"] == workers


@pytest.mark.parametrize(("name", "value"), [("WEB_CONCURRENCY", "0"), ("GUNICORN_THREADS", "many"),
                                             ("PORT", "70000"), ("GUNICORN_TIMEOUT", "-1")])
def test_a_bad_number_in_the_environment_stops_start_up(monkeypatch, name, value):
    with pytest.raises(ValueError, match=name):
        load_settings(monkeypatch, **{name: value})


def test_workers_load_the_app_after_the_fork_with_threads(monkeypatch):
    settings = load_settings(monkeypatch)
    assert settings["preload_app"] is False
    assert settings["worker_class"] == "gthread" and settings["threads"] >= 2
    assert (settings["timeout"], settings["graceful_timeout"], settings["keepalive"]) == (30, 30, 5)
    assert settings["max_requests"] > 0 and settings["max_requests_jitter"] > 0


def test_worker_heartbeat_lives_in_shared_memory(monkeypatch):
    expected = "/dev/shm" if os.path.isdir("/dev/shm") else None
    assert load_settings(monkeypatch)["worker_tmp_dir"] == expected


def test_logs_leave_access_lines_to_the_app_and_errors_on_stderr(monkeypatch):
    settings = load_settings(monkeypatch)
    assert settings["accesslog"] is None
    assert settings["errorlog"] == "-"
    assert settings["control_socket_disable"] is True


def test_forwarded_headers_are_trusted_from_configured_addresses_only(monkeypatch):
    assert load_settings(monkeypatch)["forwarded_allow_ips"] == "127.0.0.1"
    assert load_settings(monkeypatch, FORWARDED_ALLOW_IPS="10.0.0.0/8")["forwarded_allow_ips"] == "10.0.0.0/8"


# --- the real compose CLI, where it is installed -------------------------------------------------

def _compose_config(**extra_env):
    """`docker compose config` with no JWT_SECRET_KEY or WEB_CONCURRENCY but those in extra_env."""
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("the docker client is not installed")
    if subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode != 0:
        pytest.skip("the docker compose plugin is not installed (`docker compose config` needs no engine)")
    env = {key: value for key, value in os.environ.items() if key not in {"WEB_CONCURRENCY", "JWT_SECRET_KEY"}}
    return subprocess.run([docker, "compose", "-f", str(DOCKER / "compose.yaml"), "config", "--format", "json"],
                          capture_output=True, text=True, env=env | extra_env, check=False, timeout=60)


def test_docker_compose_accepts_the_file_and_fills_the_secret():
    result = _compose_config(JWT_SECRET_KEY=SECRET)
    assert result.returncode == 0, result.stderr
    api = json.loads(result.stdout)["services"]["api"]
    assert api["environment"]["JWT_SECRET_KEY"] == SECRET
    assert "WEB_CONCURRENCY" not in api["environment"]


def test_docker_compose_refuses_to_run_without_the_jwt_secret():
    result = _compose_config()
    assert result.returncode != 0
    assert "JWT_SECRET_KEY" in result.stderr
