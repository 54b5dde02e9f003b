"""Access and refresh tokens: claims, every way a token can be bad, rotation with reuse detection, logout."""
from datetime import timedelta

import jwt as pyjwt
import pytest
from flask_jwt_extended import create_access_token

from crm_service.auth.permissions import permissions_for
from crm_service.config import TestConfig
from tests.conftest import PASSWORD, Api, assert_error, login, make_staff, register

ME = "/api/v1/auth/me"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
USERS = "/api/v1/users"
OTHER_SECRET = "another-secret-that-is-also-32-bytes-or-more"


@pytest.fixture
def config():
    config = TestConfig()
    config.ENSURE_INDEXES_ON_START = True
    return config


@pytest.fixture
def staff(app):
    return make_staff(app, "sales", username="sam")


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def claims_of(token):
    return pyjwt.decode(token, options={"verify_signature": False})


def assert_token_refused(response):
    """401 in the one error shape, never a library's `msg` or a 422."""
    body = assert_error(response, 401, "unauthorized")
    assert "msg" not in body
    assert response.headers["WWW-Authenticate"] == "Bearer"
    return body


# --- claims ---------------------------------------------------------------------------------------

def test_access_token_carries_user_role_permissions_and_login(client, staff):
    tokens = login(client, "sam")

    claims = claims_of(tokens["access_token"])
    assert claims["sub"] == str(staff["_id"])
    assert claims["role"] == "sales"
    assert claims["permissions"] == permissions_for("sales")
    assert "crm:read:customers" in claims["permissions"] and "crm:read:users" not in claims["permissions"]
    assert claims["type"] == "access"
    assert claims["sid"] and claims_of(tokens["refresh_token"])["sid"] == claims["sid"]


def test_access_token_lives_fifteen_minutes_and_refresh_token_thirty_days(client, staff):
    tokens = login(client, "sam")

    access, refresh = claims_of(tokens["access_token"]), claims_of(tokens["refresh_token"])
    assert access["exp"] - access["iat"] == 15 * 60
    assert refresh["exp"] - refresh["iat"] == 30 * 24 * 3600
    assert refresh["type"] == "refresh"


def test_each_login_is_a_separate_session(client, staff):
    first, second = login(client, "sam"), login(client, "sam")

    assert claims_of(first["access_token"])["sid"] != claims_of(second["access_token"])["sid"]


# --- bad tokens -----------------------------------------------------------------------------------

def test_missing_token_is_401(client):
    assert_token_refused(client.get(ME))


@pytest.mark.parametrize("header", ["Token abc", "Bearer", "Bearer a b", "Basic dXNlcjpwYXNz", "bearer"])
def test_malformed_authorization_header_is_401(client, header):
    assert_token_refused(client.get(ME, headers={"Authorization": header}))


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.", "x" * 5000])
def test_garbage_token_is_401(client, token):
    assert_token_refused(client.get(ME, headers=bearer(token)))


def test_token_signed_with_another_secret_is_401(client, staff):
    claims = claims_of(login(client, "sam")["access_token"])

    forged = pyjwt.encode(claims, OTHER_SECRET, algorithm="HS256")

    assert_token_refused(client.get(ME, headers=bearer(forged)))


def test_token_with_alg_none_is_401(client, staff):
    claims = claims_of(login(client, "sam")["access_token"])

    unsigned = pyjwt.encode(claims, None, algorithm="none")

    assert pyjwt.get_unverified_header(unsigned)["alg"] == "none"
    assert_token_refused(client.get(ME, headers=bearer(unsigned)))


def test_token_with_tampered_claims_is_401(client, staff):
    header, _payload, signature = login(client, "sam")["access_token"].split(".")
    claims = {**claims_of(login(client, "sam")["access_token"]), "role": "admin",
              "permissions": permissions_for("admin")}
    payload = pyjwt.encode(claims, "k" * 32, algorithm="HS256").split(".")[1]

    assert_token_refused(client.get("/api/v1/users", headers=bearer(f"{header}.{payload}.{signature}")))


def test_expired_access_token_is_401(app, client, staff):
    claims = claims_of(login(client, "sam")["access_token"])
    with app.app_context():
        expired = create_access_token(identity=claims["sub"], expires_delta=timedelta(seconds=-1),
                                      additional_claims={key: claims[key] for key in ("role", "permissions", "sid")})

    body = assert_token_refused(client.get(ME, headers=bearer(expired)))
    assert body["message"] == "Token has expired"


def test_token_for_a_login_that_was_never_opened_is_401(app, client, staff):
    with app.app_context():
        token = create_access_token(identity=str(staff["_id"]),
                                    additional_claims={"role": "sales", "permissions": [], "sid": "made-up"})

    assert_token_refused(client.get(ME, headers=bearer(token)))


def test_token_without_session_claim_is_401(app, client, staff):
    with app.app_context():
        token = create_access_token(identity=str(staff["_id"]), additional_claims={"role": "admin"})

    assert_token_refused(client.get(ME, headers=bearer(token)))


def test_refresh_token_used_as_access_token_is_401(client, staff):
    tokens = login(client, "sam")

    assert_token_refused(client.get(ME, headers=bearer(tokens["refresh_token"])))


def test_access_token_used_to_refresh_is_401(client, staff):
    tokens = login(client, "sam")

    assert_token_refused(client.post(REFRESH, headers=bearer(tokens["access_token"])))


def test_refresh_without_token_is_401(client):
    assert_token_refused(client.post(REFRESH))


# --- refresh with rotation --------------------------------------------------------------------------

def test_refresh_returns_a_new_working_pair(client, staff):
    tokens = login(client, "sam")

    response = client.post(REFRESH, headers=bearer(tokens["refresh_token"]))

    assert response.status_code == 200
    fresh = response.get_json()
    assert fresh["token_type"] == "Bearer" and fresh["expires_in"] == 900
    assert fresh["user"]["username"] == "sam"
    assert fresh["refresh_token"] != tokens["refresh_token"]
    assert claims_of(fresh["access_token"])["sid"] == claims_of(tokens["access_token"])["sid"]
    assert client.get(ME, headers=bearer(fresh["access_token"])).status_code == 200
    assert client.post(REFRESH, headers=bearer(fresh["refresh_token"])).status_code == 200


def test_refresh_token_claims_follow_the_current_role(app, client, db, staff):
    tokens = login(client, "sam")
    db.users.update_one({"_id": staff["_id"]}, {"$set": {"role": "admin"}})

    fresh = client.post(REFRESH, headers=bearer(tokens["refresh_token"])).get_json()

    assert claims_of(fresh["access_token"])["role"] == "admin"


def test_reused_refresh_token_is_401_and_ends_that_login(client, staff):
    tokens = login(client, "sam")
    fresh = client.post(REFRESH, headers=bearer(tokens["refresh_token"])).get_json()

    assert_token_refused(client.post(REFRESH, headers=bearer(tokens["refresh_token"])))

    assert_token_refused(client.get(ME, headers=bearer(fresh["access_token"])))
    assert_token_refused(client.post(REFRESH, headers=bearer(fresh["refresh_token"])))


def test_reused_refresh_token_leaves_other_logins_of_the_user_alone(client, staff):
    other = login(client, "sam")
    tokens = login(client, "sam")
    client.post(REFRESH, headers=bearer(tokens["refresh_token"]))

    client.post(REFRESH, headers=bearer(tokens["refresh_token"]))

    assert client.get(ME, headers=bearer(other["access_token"])).status_code == 200
    assert client.post(REFRESH, headers=bearer(other["refresh_token"])).status_code == 200


def test_refresh_for_deactivated_user_is_401(client, db, staff):
    tokens = login(client, "sam")
    db.users.update_one({"_id": staff["_id"]}, {"$set": {"is_active": False}})

    assert_token_refused(client.post(REFRESH, headers=bearer(tokens["refresh_token"])))
    assert_token_refused(client.get(ME, headers=bearer(tokens["access_token"])))


# --- logout -----------------------------------------------------------------------------------------

def test_logout_revokes_this_access_and_refresh_token(client, staff):
    tokens = login(client, "sam")

    response = client.post(LOGOUT, headers=bearer(tokens["access_token"]))

    assert response.status_code == 204 and response.get_data() == b""
    assert_token_refused(client.get(ME, headers=bearer(tokens["access_token"])))
    assert_token_refused(client.post(REFRESH, headers=bearer(tokens["refresh_token"])))


def test_logout_leaves_other_logins_of_the_user_working(client, staff):
    other = login(client, "sam")
    tokens = login(client, "sam")

    client.post(LOGOUT, headers=bearer(tokens["access_token"]))

    assert client.get(ME, headers=bearer(other["access_token"])).status_code == 200


def test_logout_with_refresh_token_is_401_and_keeps_the_login(client, staff):
    tokens = login(client, "sam")

    assert_token_refused(client.post(LOGOUT, headers=bearer(tokens["refresh_token"])))

    assert client.get(ME, headers=bearer(tokens["access_token"])).status_code == 200


def test_revoked_sessions_are_kept_until_their_refresh_token_expires(client, db, staff):
    tokens = login(client, "sam")
    client.post(LOGOUT, headers=bearer(tokens["access_token"]))

    session = db.sessions.find_one({"_id": claims_of(tokens["access_token"])["sid"]})
    assert session["revoked"] is True
    lifetime = session["expires_at"] - session["created_at"]
    assert timedelta(days=30) <= lifetime <= timedelta(days=30, minutes=5)
    assert "expires_ttl" in db.sessions.index_information()


# --- who may call what ----------------------------------------------------------------------------

@pytest.fixture
def callers(app, client, anon, customer, sales, admin):
    # Each role's own Api; they share the client, so each sends its own token explicitly.
    target = make_staff(app, "sales", username="target")
    return {"anon": anon, "customer": customer, "sales": sales, "admin": admin, "target": str(target["_id"])}


ENDPOINTS = {
    "list users": ("get", USERS, None),
    "create user": ("post", USERS, {"username": "nadia", "email": "nadia@staff.example", "password": PASSWORD,
                                    "role": "sales"}),
    "read user": ("get", USERS + "/{target}", None),
    "update user": ("patch", USERS + "/{target}", {"first_name": "X"}),
    "delete user": ("delete", USERS + "/{target}", None),
    "read me": ("get", "/api/v1/auth/me", None),
    "update me": ("patch", "/api/v1/auth/me", {"first_name": "Me"}),
    "change password": ("post", "/api/v1/auth/password", {"current_password": PASSWORD, "new_password": PASSWORD}),
    "logout": ("post", "/api/v1/auth/logout", None),
    "login": ("post", "/api/v1/auth/login", {"username": "target", "password": PASSWORD}),
}
EXPECTED = {  # anon, customer, sales, admin
    "list users": (401, 403, 403, 200),
    "create user": (401, 403, 403, 201),
    "read user": (401, 403, 403, 200),
    "update user": (401, 403, 403, 200),
    "delete user": (401, 403, 403, 204),
    "read me": (401, 200, 200, 200),
    "update me": (401, 200, 200, 200),
    "change password": (401, 204, 204, 204),
    "logout": (401, 204, 204, 204),
    "login": (200, 200, 200, 200),
}
ROLES = ("anon", "customer", "sales", "admin")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_authorization_matrix(callers, db, role, endpoint):
    method, path, body = ENDPOINTS[endpoint]
    caller = callers[role]
    users_before = list(db.users.find({}, {"password_hash": 0}))
    kwargs = {"json": body} if body is not None else {}

    response = getattr(caller, method)(path.format(target=callers["target"]), **kwargs)

    expected = EXPECTED[endpoint][ROLES.index(role)]
    if expected >= 400:
        assert_error(response, expected, {401: "unauthorized", 403: "forbidden"}[expected])
        assert list(db.users.find({}, {"password_hash": 0})) == users_before
    else:
        assert response.status_code == expected, response.get_json()


def test_register_is_open_to_everyone(client):
    assert register(client)["user"]["role"] == "customer"
    assert Api(client).post("/api/v1/auth/register").status_code == 422
