"""With the database unreachable the service answers 503 in the error shape, fast."""
import socket
import time

import pytest

from crm_service import create_app
from crm_service.config import TestConfig
from crm_service.db import close_client
from tests.conftest import assert_error


def _closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def offline_app():
    config = TestConfig()
    config.MONGO_URI = f"mongodb://127.0.0.1:{_closed_port()}/?directConnection=true"
    config.MONGO_SERVER_SELECTION_TIMEOUT_MS = 1000
    config.MONGO_CONNECT_TIMEOUT_MS = 500
    app = create_app(config)
    yield app
    close_client(app)


def test_readiness_probe_is_503_within_seconds_when_database_is_down(offline_app):
    started = time.monotonic()
    response = offline_app.test_client().get("/health/ready")
    elapsed = time.monotonic() - started
    assert_error(response, 503, "unavailable")
    assert elapsed < 5


def test_liveness_probe_stays_up_when_database_is_down(offline_app):
    assert offline_app.test_client().get("/health/live").status_code == 200


def test_api_request_is_503_in_error_shape_when_database_is_down(offline_app):
    response = offline_app.test_client().post(
        "/api/v1/auth/login", json={"username": "someone", "password": "whatever-1"})
    body = assert_error(response, 503, "unavailable")
    assert response.headers["Retry-After"]
    assert "Traceback" not in str(body)


def test_worker_starts_when_database_is_down_at_start_up():
    config = TestConfig()
    config.MONGO_URI = f"mongodb://127.0.0.1:{_closed_port()}/?directConnection=true"
    config.MONGO_SERVER_SELECTION_TIMEOUT_MS = 300
    config.ENSURE_INDEXES_ON_START = True
    config.CRM_BOOTSTRAP_ADMIN_EMAIL = "boss@example.com"
    config.CRM_BOOTSTRAP_ADMIN_PASSWORD = "bootstrap-pass"
    app = create_app(config)
    try:
        assert app.test_client().get("/health/live").status_code == 200
        assert_error(app.test_client().get("/health/ready"), 503, "unavailable")
    finally:
        close_client(app)
