"""A failed login says nothing about which accounts exist: same answer, one bcrypt check, about the same time."""
import statistics
import time

import bcrypt
import mongomock
import pytest

from crm_service import create_app
from crm_service.auth import passwords
from crm_service.config import TestConfig
from tests.conftest import PASSWORD, make_staff

LOGIN = "/api/v1/auth/login"
ROUNDS = 8  # ~15 ms a check: bcrypt dominates a login, so leaving it out would show
TRIES = 9


@pytest.fixture
def config():
    config = TestConfig()
    config.BCRYPT_ROUNDS = ROUNDS
    config.LOGIN_MAX_FAILURES = 10_000  # the lock-out would end the loops early
    return config


@pytest.fixture
def accounts(app):
    make_staff(app, "sales", username="lena")
    make_staff(app, "sales", username="gone", is_active=False)


ATTEMPTS = {
    "unknown user": {"username": "nobody-here", "password": PASSWORD},
    "wrong password": {"username": "lena", "password": "wrong-password"},
    "inactive account": {"username": "gone", "password": PASSWORD},
}


@pytest.fixture
def checks(monkeypatch):
    """Every bcrypt check made, with the hash it compared against."""
    made = []
    real = bcrypt.checkpw

    def counting(password, hashed):
        made.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(passwords.bcrypt, "checkpw", counting)
    return made


def test_every_failure_gets_the_same_status_body_and_headers(client, accounts):
    answers = {}
    for name, body in ATTEMPTS.items():
        response = client.post(LOGIN, json=body)
        payload = response.get_json()
        payload.pop("request_id")
        answers[name] = (response.status_code, payload, response.headers.get("WWW-Authenticate"))

    assert len(set(map(repr, answers.values()))) == 1, answers
    assert answers["unknown user"][:2] == (401, {"status": 401, "code": "unauthorized",
                                                 "message": "Invalid username or password"})


@pytest.mark.parametrize("name", list(ATTEMPTS))
def test_every_failure_runs_exactly_one_bcrypt_check_of_the_configured_cost(client, accounts, checks, name):
    client.post(LOGIN, json=ATTEMPTS[name])

    assert len(checks) == 1
    assert checks[0].startswith(f"$2b${ROUNDS:02d}$".encode())


def test_the_stand_in_hash_is_ready_before_the_first_login(config, monkeypatch):
    monkeypatch.setattr(passwords, "_dummy_hashes", {})  # as in a fresh worker
    app = create_app(config, mongo_client=mongomock.MongoClient(tz_aware=True))
    hashed = []
    monkeypatch.setattr(passwords.bcrypt, "hashpw", lambda *args: hashed.append(args) or b"")

    response = app.test_client().post(LOGIN, json=ATTEMPTS["unknown user"])

    assert response.status_code == 401
    assert hashed == []  # built when the app started, not on this request
    assert passwords._dummy_hashes[ROUNDS].startswith(f"$2b${ROUNDS:02d}$")


def test_unknown_user_wrong_password_and_inactive_take_about_the_same_time(client, accounts, checks):
    timings = {name: [] for name in ATTEMPTS}
    client.post(LOGIN, json=ATTEMPTS["unknown user"])  # warm up
    for _ in range(TRIES):
        for name, body in ATTEMPTS.items():  # interleaved, so a slow moment of the machine hits all three
            started = time.perf_counter()
            assert client.post(LOGIN, json=body).status_code == 401
            timings[name].append(time.perf_counter() - started)
    medians = {name: statistics.median(values) for name, values in timings.items()}

    assert len(checks) == 1 + TRIES * len(ATTEMPTS)  # bcrypt really ran every time
    reference = medians["wrong password"]
    for median in medians.values():
        assert 0.5 <= median / reference <= 2.0, medians
