"""Token faults the other token tests leave out: algorithm pinning, revoked tokens everywhere, one decode per
request, stale tokens on public endpoints, the TTL on revoked logins, and secrets refused at start-up."""
import jwt as pyjwt
import mongomock
import pytest
from flask_jwt_extended import JWTManager

from crm_service import create_app
from crm_service.config import ConfigError, TestConfig, load_config
from crm_service.repositories.sessions import SessionRepository
from tests.conftest import PASSWORD, assert_error, login, make_staff

ME = "/api/v1/auth/me"
CUSTOMERS = "/api/v1/customers"
LOGOUT = "/api/v1/auth/logout"
REFRESH = "/api/v1/auth/refresh"
SECRET = "a-secret-of-64-bytes-so-that-hs512-is-not-weak-for-pyjwt-either!"


@pytest.fixture
def config():
    config = TestConfig()
    config.JWT_SECRET_KEY = SECRET
    return config


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def claims_of(token):
    return pyjwt.decode(token, options={"verify_signature": False})


def assert_token_refused(response):
    body = assert_error(response, 401, "unauthorized")
    assert "msg" not in body and response.headers["WWW-Authenticate"] == "Bearer"
    return body


@pytest.fixture
def staff(app):
    make_staff(app, "sales", username="sam")
    return login(app.test_client(), "sam")


# --- refused tokens ---------------------------------------------------------------------------------

@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_token_signed_with_the_right_secret_but_another_algorithm_is_401(client, staff, algorithm):
    token = pyjwt.encode(claims_of(staff["access_token"]), SECRET, algorithm=algorithm)

    assert_token_refused(client.get(ME, headers=bearer(token)))


def test_logged_out_token_is_refused_on_every_endpoint(client, staff):
    client.post(LOGOUT, headers=bearer(staff["access_token"]))

    assert_token_refused(client.get(CUSTOMERS, headers=bearer(staff["access_token"])))
    assert_token_refused(client.post(CUSTOMERS, json={"first_name": "A"}, headers=bearer(staff["access_token"])))
    assert_token_refused(client.post(LOGOUT, headers=bearer(staff["access_token"])))


def test_refused_token_is_401_before_the_body_is_looked_at(client, staff):
    client.post(LOGOUT, headers=bearer(staff["access_token"]))

    response = client.post(CUSTOMERS, data="{not json", content_type="application/json",
                           headers=bearer(staff["access_token"]))

    assert_token_refused(response)


def test_a_stale_token_does_not_stop_login_or_registration(client, staff):
    client.post(LOGOUT, headers=bearer(staff["access_token"]))
    stale = bearer(staff["access_token"])

    assert client.post("/api/v1/auth/login", json={"username": "sam", "password": PASSWORD},
                       headers=stale).status_code == 200
    registered = client.post("/api/v1/auth/register", headers=stale, json={
        "username": "newbie", "email": "newbie@mail.example", "password": PASSWORD, "first_name": "New"})
    assert registered.status_code == 201


def test_a_token_is_decoded_once_per_worker_and_its_login_looked_up_on_every_request(client, staff, monkeypatch):
    decodes, lookups = [], []
    decode, is_live = JWTManager._decode_jwt_from_config, SessionRepository.is_live
    monkeypatch.setattr(JWTManager, "_decode_jwt_from_config",
                        lambda self, *args, **kwargs: decodes.append(1) or decode(self, *args, **kwargs))
    monkeypatch.setattr(SessionRepository, "is_live", lambda self, sid: lookups.append(sid) or is_live(self, sid))
    fresh = client.post("/api/v1/auth/login", json={"username": "sam", "password": PASSWORD}).get_json()
    decodes.clear()

    for _ in range(3):
        assert client.get(CUSTOMERS, headers=bearer(fresh["access_token"])).status_code == 200
    assert client.post(REFRESH, headers=bearer(fresh["refresh_token"])).status_code == 200
    assert client.post(REFRESH, headers=bearer(fresh["refresh_token"])).status_code == 401  # spent: full path

    # One decode for the access token's first use, one per refresh (refresh tokens are never cached);
    # the login is looked up on every request.
    assert len(decodes) == 3
    assert len(lookups) == 5


def test_a_verified_token_is_still_refused_once_its_login_is_revoked(client, staff):
    headers = bearer(staff["access_token"])
    assert client.get(ME, headers=headers).status_code == 200  # verified and remembered

    assert client.post(LOGOUT, headers=headers).status_code == 204

    for path in (ME, CUSTOMERS):
        refused = assert_error(client.get(path, headers=headers), 401, "unauthorized")
        assert refused["message"] == "Token has been revoked"


def test_a_verified_token_is_refused_once_it_expires(client, staff, monkeypatch):
    import time as real_time

    from crm_service.auth import decorators

    headers = bearer(staff["access_token"])
    assert client.get(ME, headers=headers).status_code == 200
    expires_at = claims_of(staff["access_token"])["exp"]

    class Later:
        @staticmethod
        def time():
            return expires_at + 1

    monkeypatch.setattr(decorators, "time", Later)
    monkeypatch.setattr(pyjwt.api_jwt, "datetime", _clock_at(expires_at + 1))

    assert assert_error(client.get(ME, headers=headers), 401, "unauthorized")["message"] == "Token has expired"
    assert real_time.time() < expires_at  # the real clock never moved: only the checks saw the later time


def _clock_at(timestamp):
    from datetime import UTC, datetime

    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.fromtimestamp(timestamp, tz or UTC)

    return Clock


def test_a_tampered_copy_of_a_verified_token_is_not_taken_from_the_cache(client, staff):
    token = staff["access_token"]
    assert client.get(ME, headers=bearer(token)).status_code == 200
    header, payload, signature = token.split(".")
    tampered = ".".join((header, payload, ("A" if signature[0] != "A" else "B") + signature[1:]))

    assert assert_error(client.get(ME, headers=bearer(tampered)), 401, "unauthorized")["message"] == "Invalid token"


def test_the_verified_token_cache_stays_within_its_capacity():
    from crm_service.auth.decorators import VerifiedTokens

    cache = VerifiedTokens(capacity=3)
    for number in range(5):
        cache.put(f"Bearer t{number}", {"exp": 4_000_000_000}, f"principal {number}")

    assert [cache.get(f"Bearer t{number}") is None for number in range(5)] == [True, True, False, False, False]
    assert cache.get("Bearer t4") == "principal 4"


def test_revoked_logins_are_kept_until_they_expire_by_a_ttl_index(client, db, staff):
    client.post(LOGOUT, headers=bearer(staff["access_token"]))

    session = db.sessions.find_one({"_id": claims_of(staff["access_token"])["sid"]})
    ttl = db.sessions.index_information()["expires_ttl"]
    assert list(ttl["key"]) == [("expires_at", 1)] and ttl["expireAfterSeconds"] == 0
    assert session["revoked"] is True and session["revoked_reason"] == "logout"
    assert session["expires_at"].timestamp() >= claims_of(staff["refresh_token"])["exp"]


# --- secrets at start-up --------------------------------------------------------------------------------

@pytest.fixture
def production_env(monkeypatch):
    monkeypatch.setenv("CRM_ENV", "production")
    monkeypatch.setenv("MONGO_URI", "mongodb://db.invalid:27017")
    for name in ("JWT_SECRET_KEY", "CRM_BOOTSTRAP_ADMIN_EMAIL", "CRM_BOOTSTRAP_ADMIN_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize(("secret", "message"), [
    (None, "JWT_SECRET_KEY is not set"),
    ("", "JWT_SECRET_KEY is not set"),
    ("short-secret", "at least 32 bytes"),
    ("x" * 31, "at least 32 bytes"),
])
def test_production_refuses_to_start_with_a_missing_or_short_secret(production_env, secret, message):
    if secret is not None:
        production_env.setenv("JWT_SECRET_KEY", secret)

    with pytest.raises(ConfigError, match=message):
        create_app(mongo_client=mongomock.MongoClient())


def test_production_starts_with_a_long_secret_from_the_environment(production_env):
    production_env.setenv("JWT_SECRET_KEY", "s" * 16 + "-a-real-long-random-secret")

    app = create_app(load_config(), mongo_client=mongomock.MongoClient(tz_aware=True))

    assert app.config["CRM_ENV"] == "production" and app.config["JWT_SECRET_KEY"] != SECRET


def test_tokens_of_one_role_share_one_permission_set(app, client, staff):
    from flask import g

    make_staff(app, "sales", username="sally")
    other = login(app.test_client(), "sally")
    sets = []
    for token in (staff["access_token"], other["access_token"]):
        with app.test_request_context(ME, headers=bearer(token)):
            app.preprocess_request()
            sets.append(g.principal.permissions)

    assert sets[0] is sets[1] and "crm:read:customers" in sets[0]
