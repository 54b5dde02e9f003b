"""A database crash mid-run: the API answers 503 within seconds, and recovers by itself with the data intact."""
import logging
import time

import pytest

from crm_service import create_app
from crm_service.config import TestConfig
from crm_service.db import close_client
from tests.conftest import assert_error, login, make_staff

# The service's own client settings (Config defaults), not shortened for the test.
FAIL_FAST_SECONDS = 5
RECOVERY_SECONDS = 15


@pytest.fixture
def outage_app(restartable_server):
    config = TestConfig()
    config.MONGO_URI = restartable_server.uri
    config.MONGO_DB_NAME = "crm_outage"
    app = create_app(config)
    logging.getLogger("crm_service").setLevel(logging.CRITICAL)
    yield app
    close_client(app)


def _poll(request, until, limit):
    """Send requests until `until(response)`; (seconds taken, last response). Each response is also checked."""
    started = time.monotonic()
    while True:
        response = request()
        if until(response) or time.monotonic() - started > limit:
            return time.monotonic() - started, response
        time.sleep(0.05)


def test_database_crash_is_503_within_seconds_and_the_service_recovers_with_its_data(
        outage_app, restartable_server, record_property):
    client = outage_app.test_client()
    make_staff(outage_app, "admin", username="outage-admin")
    headers = {"Authorization": f"Bearer {login(client, 'outage-admin')['access_token']}"}
    created = client.post("/api/v1/customers", headers=headers,
                          json={"first_name": "Ada", "email": "ada@outage.example"})
    assert created.status_code == 201
    path = f"/api/v1/customers/{created.get_json()['id']}"
    for _ in range(5):  # a service in use: a warm connection pool
        assert client.get(path, headers=headers).status_code == 200

    restartable_server.kill()
    down_after, response = _poll(lambda: client.get(path, headers=headers),
                                 lambda r: r.status_code != 200, FAIL_FAST_SECONDS * 2)
    body = assert_error(response, 503, "unavailable")
    assert response.headers["Retry-After"]
    assert "Traceback" not in str(body)
    assert down_after < FAIL_FAST_SECONDS
    # Every request while the database is down fails fast too, not only the first.
    started = time.monotonic()
    assert_error(client.get("/health/ready"), 503, "unavailable")
    assert_error(client.post("/api/v1/customers", headers=headers,
                             json={"first_name": "Bob", "email": "bob@outage.example"}), 503, "unavailable")
    assert time.monotonic() - started < 2 * FAIL_FAST_SECONDS

    restartable_server.start()
    restarted = time.monotonic()
    up_after, response = _poll(lambda: client.get(path, headers=headers),
                               lambda r: r.status_code == 200, RECOVERY_SECONDS * 2)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["email"] == "ada@outage.example"
    assert up_after < RECOVERY_SECONDS
    assert client.get("/health/ready").status_code == 200
    # Nothing half-written while it was down: the refused create left no record.
    listed = client.get("/api/v1/customers", headers=headers).get_json()
    assert [item["email"] for item in listed["items"]] == ["ada@outage.example"]
    record_property("seconds_to_503", round(down_after, 2))
    record_property("seconds_to_recover", round(time.monotonic() - restarted, 2))
    print(f"\noutage: 503 after {down_after:.2f}s; recovered {up_after:.2f}s after the restart")
