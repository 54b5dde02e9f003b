"""Rate limits on a real server: two app instances (two gunicorn workers) count in one shared window."""
import threading

import pytest

from crm_service import create_app
from crm_service.db import get_db
from crm_service.ratelimit import EXTENSION_KEY
from tests.conftest import PASSWORD, assert_error, make_staff

UNKNOWN = "/api/v1/no-such-thing"
LOGIN = "/api/v1/auth/login"
T0 = 1_900_000_800 + 5  # a fixed moment: no test straddles a window boundary


@pytest.fixture
def config(config):
    config.RATE_LIMITS_ENABLED = True
    config.RATE_LIMIT_DEFAULT = "30/minute"
    return config


@pytest.fixture
def workers(app, config):
    """The session's app and a second one with its own MongoClient on the same database."""
    second = create_app(config)
    pair = [app, second]
    for worker in pair:
        worker.extensions[EXTENSION_KEY].clock = lambda: T0
    yield pair
    get_db(second).client.close()


def remaining(response):
    return int(response.headers["RateLimit-Remaining"])


def test_two_workers_share_one_counter(workers):
    clients = [worker.test_client() for worker in workers]

    seen = [remaining(clients[number % 2].get(UNKNOWN)) for number in range(30)]

    assert seen == list(range(29, -1, -1))
    for client in clients:
        response = client.get(UNKNOWN)
        assert_error(response, 429, "rate_limited")
        assert response.headers["Retry-After"] == "55"


def test_concurrent_requests_on_both_workers_are_each_counted_once(workers, wire_db):
    seen, lock = [], threading.Lock()

    def send(worker):
        client = worker.test_client()
        for _ in range(6):
            value = remaining(client.get(UNKNOWN))
            with lock:
                seen.append(value)

    threads = [threading.Thread(target=send, args=(worker,)) for worker in workers for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(seen) == list(range(6, 30))  # 24 requests, 24 different counts: no hit lost or doubled
    window = wire_db.rate_limits.find_one({"_id": {"$regex": r"^ip:127\.0\.0\.1\|60\|"}})
    assert window["default"] == 24


def test_windows_expire_by_a_ttl_index_on_the_server(workers, wire_db):
    workers[0].test_client().get(UNKNOWN)

    index = wire_db.rate_limits.index_information()["expires_ttl"]
    assert index["key"] == [("expires_at", 1)] and index["expireAfterSeconds"] == 0
    assert wire_db.rate_limits.find_one()["expires_at"].timestamp() == T0 - 5 + 60


def test_login_lock_out_is_shared_by_workers(workers):
    make_staff(workers[0], "sales", username="lena")
    clients = [worker.test_client() for worker in workers]
    for number in range(5):
        assert clients[number % 2].post(LOGIN, json={"username": "lena", "password": "wrong-pass"}).status_code == 401

    for client in clients:
        response = client.post(LOGIN, json={"username": "lena", "password": PASSWORD})
        assert_error(response, 429, "rate_limited")
        assert int(response.headers["Retry-After"]) > 0
