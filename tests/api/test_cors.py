"""CORS for the configured origins only (SPEC §7): credentials, the methods and headers a client needs."""
import mongomock
import pytest

from crm_service import create_app
from crm_service.config import ConfigError, TestConfig
from tests.conftest import assert_error

ALLOWED = "https://app.example.com"
CUSTOMERS = "/api/v1/customers"


@pytest.fixture
def config():
    config = TestConfig()
    config.CORS_ORIGINS = [ALLOWED, "http://localhost:5173"]
    return config


def preflight(client, origin=ALLOWED, method="PATCH", headers="Authorization, If-Match, Content-Type"):
    return client.options(CUSTOMERS + "/0123456789abcdef01234567", headers={
        "Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers})


def header_set(response, name):
    return {value.strip().lower() for value in response.headers.get(name, "").split(",") if value.strip()}


def test_preflight_from_an_allowed_origin_needs_no_token(client):
    response = preflight(client)

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert header_set(response, "Access-Control-Allow-Methods") == {"get", "post", "put", "patch", "delete",
                                                                     "options"}
    assert {"authorization", "if-match", "content-type"} <= header_set(response, "Access-Control-Allow-Headers")
    assert "Origin" in response.headers.get("Vary", "")


@pytest.mark.parametrize("header", ["If-None-Match", "Idempotency-Key", "X-Request-ID"])
def test_preflight_allows_the_mobile_headers(client, header):
    response = preflight(client, method="POST", headers=header)

    assert header.lower() in header_set(response, "Access-Control-Allow-Headers")


def test_preflight_refuses_a_header_outside_the_list(client):
    response = preflight(client, headers="X-Evil")

    assert "x-evil" not in header_set(response, "Access-Control-Allow-Headers")


def test_actual_response_exposes_the_headers_a_client_reads(client):
    response = client.get(CUSTOMERS, headers={"Origin": ALLOWED})

    assert_error(response, 401, "unauthorized")  # CORS headers on errors too, so the page can read them
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert {"etag", "location", "retry-after", "x-request-id", "ratelimit-limit", "ratelimit-remaining",
            "ratelimit-reset"} <= header_set(response, "Access-Control-Expose-Headers")


@pytest.mark.parametrize("origin", ["https://evil.example.com", "https://app.example.com.evil.net",
                                    "http://app.example.com", "null"])
def test_other_origins_get_no_cors_headers(client, origin):
    for response in (preflight(client, origin=origin), client.get(CUSTOMERS, headers={"Origin": origin})):
        assert not [name for name, _ in response.headers.items() if name.startswith("Access-Control-")], origin


def test_no_origins_configured_means_no_cors_at_all():
    app = create_app(TestConfig(), mongo_client=mongomock.MongoClient(tz_aware=True))

    response = preflight(app.test_client())

    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("origin", ["*", "https://*.example.com", "app.example.com", "https://app.example.com/"])
def test_an_origin_setting_that_is_not_an_origin_stops_start_up(origin):
    config = TestConfig()
    config.CORS_ORIGINS = [origin]

    with pytest.raises(ConfigError, match="CORS_ORIGINS"):
        create_app(config, mongo_client=mongomock.MongoClient())
