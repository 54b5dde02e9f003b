"""Security headers on every response; a CSP that locks JSON down but lets the Swagger UI page run."""
import mongomock
import pytest

from crm_service import create_app
from crm_service.config import TestConfig
from crm_service.security import API_CSP
from tests.conftest import PASSWORD, make_staff

CUSTOMERS = "/api/v1/customers"


@pytest.mark.parametrize("path", ["/api/v1/customers", "/api/v1/nothing-here", "/health/live", "/openapi.json",
                                  "/apidocs/"])
def test_every_response_carries_the_security_headers(client, path):
    response = client.get(path)

    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_json_answers_allow_no_sources_at_all(admin):
    response = admin.get(CUSTOMERS)

    assert response.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'" == API_CSP


def test_the_swagger_ui_page_may_run_its_own_scripts_and_styles(client):
    page = client.get("/apidocs/")
    policy = dict(part.strip().split(" ", 1) for part in page.headers["Content-Security-Policy"].split(";"))

    assert page.status_code == 200
    assert "'self'" in policy["script-src"] and "'self'" in policy["style-src"]
    assert "'self'" in policy["connect-src"]  # it fetches /openapi.json
    assert "/flasgger_static/swagger-ui-bundle.js" in page.get_data(as_text=True)
    with client.get("/flasgger_static/swagger-ui-bundle.js") as asset:
        assert asset.status_code == 200 and "'self'" in asset.headers["Content-Security-Policy"]


@pytest.mark.parametrize("who", ["anon", "admin"])
def test_api_answers_are_never_cached(request, who):
    caller = request.getfixturevalue(who)

    assert caller.get(CUSTOMERS).headers["Cache-Control"] == "no-store"


def test_tokens_from_login_are_never_cached(client, app):
    make_staff(app, "sales", username="lena")

    response = client.post("/api/v1/auth/login", json={"username": "lena", "password": PASSWORD})

    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"


def test_a_304_keeps_the_etag_and_is_not_cached_either(admin):
    created = admin.post(CUSTOMERS, json={"first_name": "Ann", "email": "ann@mail.example"})
    location = created.headers["Location"]

    again = admin.get(location, headers={"If-None-Match": created.headers["ETag"]})

    assert again.status_code == 304 and again.headers["ETag"] == created.headers["ETag"]
    assert again.headers["Cache-Control"] == "no-store"


def test_hsts_only_over_https(client):
    assert "Strict-Transport-Security" not in client.get("/health/live").headers

    secure = client.get("/health/live", base_url="https://crm.example.com")

    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_hsts_follows_the_scheme_a_trusted_proxy_reports():
    config = TestConfig()
    config.TRUSTED_PROXY_COUNT = 1
    proxied = create_app(config, mongo_client=mongomock.MongoClient(tz_aware=True)).test_client()

    response = proxied.get("/health/live", headers={"X-Forwarded-Proto": "https"})

    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_a_forwarded_scheme_is_ignored_without_trusted_proxies(client):
    response = client.get("/health/live", headers={"X-Forwarded-Proto": "https"})

    assert "Strict-Transport-Security" not in response.headers
