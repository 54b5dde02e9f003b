"""The per-account login lock-out and the rate-limit counters are shared by every worker, races included."""
from datetime import timedelta

import mongomock
import pytest
from pymongo.errors import DuplicateKeyError

from crm_service import create_app
from crm_service.config import TestConfig
from crm_service.repositories.base import utcnow
from crm_service.repositories.login_failures import LoginFailureRepository
from crm_service.repositories.rate_limits import RateLimitRepository
from tests.conftest import PASSWORD, assert_error, make_staff

LOGIN = "/api/v1/auth/login"
WINDOW = 15 * 60


class RacingCollection:
    """A collection whose first find_one_and_update behaves as if another worker got there first."""

    def __init__(self, collection, first_answer):
        self.collection = collection
        self.first_answer = first_answer
        self.calls = 0

    def find_one_and_update(self, *args, **kwargs):
        self.calls += 1
        if self.calls == 1:
            return self.first_answer(*args, **kwargs)
        return self.collection.find_one_and_update(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.collection, name)


@pytest.fixture
def workers():
    """Two app instances on one database, as two gunicorn workers are."""
    mongo = mongomock.MongoClient(tz_aware=True)
    return [create_app(TestConfig(), mongo_client=mongo) for _ in range(2)]


@pytest.fixture
def failures(db):
    return LoginFailureRepository(db)


def test_login_lock_out_is_shared_by_workers(workers):
    make_staff(workers[0], "sales", username="lena")
    clients = [worker.test_client() for worker in workers]
    for number in range(5):
        response = clients[number % 2].post(LOGIN, json={"username": "lena", "password": "wrong-pass"})
        assert_error(response, 401, "unauthorized")

    for client in clients:
        response = client.post(LOGIN, json={"username": "lena", "password": PASSWORD})
        assert_error(response, 429, "rate_limited")
        assert 0 < int(response.headers["Retry-After"]) <= WINDOW


def test_a_failure_after_the_window_starts_a_new_one(failures, db):
    db.login_failures.insert_one({"_id": "k", "count": 9, "expires_at": utcnow() - timedelta(seconds=1)})

    failures.record_failure("k", WINDOW)

    stored = db.login_failures.find_one({"_id": "k"})
    assert stored["count"] == 1 and stored["expires_at"] > utcnow() + timedelta(seconds=WINDOW - 5)
    assert failures.blocked_for("k", 1) > WINDOW - 5


def test_a_failure_racing_another_workers_new_window_counts_in_it(failures, db):
    db.login_failures.insert_one({"_id": "k", "count": 1, "expires_at": utcnow() + timedelta(seconds=WINDOW)})
    # This worker read the old, expired window; another worker has just started the new one.
    failures.collection = RacingCollection(db.login_failures, lambda *args, **kwargs: None)

    failures.record_failure("k", WINDOW)

    assert db.login_failures.find_one({"_id": "k"})["count"] == 2


def test_a_first_hit_racing_another_workers_first_hit_counts_once_more(db):
    window_end = utcnow() + timedelta(minutes=1)
    repository = RateLimitRepository(db)

    def lose_the_race(*args, **kwargs):
        db.rate_limits.insert_one({"_id": "w", "default": 1, "expires_at": window_end})
        raise DuplicateKeyError("E11000 duplicate key error")

    repository.collection = RacingCollection(db.rate_limits, lose_the_race)

    assert repository.hit("w", ["default"], window_end) == {"default": 2}
