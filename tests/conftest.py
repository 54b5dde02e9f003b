"""Fixtures for the fast tier: a fresh mongomock database per test, and logged-in clients per role."""
import itertools
import logging

import mongomock
import pytest

from crm_service import create_app
from crm_service.auth.passwords import hash_password
from crm_service.config import TestConfig
from crm_service.db import get_db
from crm_service.repositories.users import UserRepository
from tests.smtp_server import running_smtp_server

PASSWORD = "correct-horse-1"


def _bson_order_updater(pick):
    """mongomock's $max/$min use Python's max/min, which fail on a null field; MongoDB orders null lowest."""

    def updater(doc, field_name, value):
        if not isinstance(doc, dict):
            return
        if field_name not in doc:
            doc[field_name] = value
        elif doc[field_name] is None:
            doc[field_name] = value if pick is max else None
        else:
            doc[field_name] = pick(doc[field_name], value)

    return updater


# The service codes to MongoDB's behaviour; teach the fake the same rule.
mongomock.collection._updaters["$max"] = _bson_order_updater(max)
mongomock.collection._updaters["$min"] = _bson_order_updater(min)
_add_update = mongomock.collection.BulkOperationBuilder.add_update


def _add_update_with_sort(self, *args, sort=None, **kwargs):
    """pymongo's UpdateOne passes `sort` (MongoDB 8's updateOne option) to a bulk; mongomock has no such argument."""
    if sort is not None:
        raise NotImplementedError("mongomock: a sorted UpdateOne in a bulk")
    return _add_update(self, *args, **kwargs)


mongomock.collection.BulkOperationBuilder.add_update = _add_update_with_sort
_counter = itertools.count(1)


@pytest.fixture
def config():
    return TestConfig()


@pytest.fixture
def app(config):
    app = create_app(config, mongo_client=mongomock.MongoClient(tz_aware=True))
    logging.getLogger("crm_service").setLevel(logging.WARNING)
    return app


@pytest.fixture
def db(app):
    with app.app_context():
        yield get_db()


@pytest.fixture
def client(app):
    return app.test_client()


class Api:
    """A test client that sends one user's bearer token with every request."""

    def __init__(self, client, token=None, user=None):
        self.client = client
        self.token = token
        self.user = user or {}

    def _headers(self, headers):
        merged = dict(headers or {})
        if self.token:
            merged.setdefault("Authorization", f"Bearer {self.token}")
        return merged

    def get(self, path, headers=None, **kwargs):
        return self.client.get(path, headers=self._headers(headers), **kwargs)

    def post(self, path, json=None, headers=None, **kwargs):
        return self.client.post(path, json=json, headers=self._headers(headers), **kwargs)

    def patch(self, path, json=None, headers=None, **kwargs):
        return self.client.patch(path, json=json, headers=self._headers(headers), **kwargs)

    def put(self, path, json=None, headers=None, **kwargs):
        return self.client.put(path, json=json, headers=self._headers(headers), **kwargs)

    def delete(self, path, headers=None, **kwargs):
        return self.client.delete(path, headers=self._headers(headers), **kwargs)


def make_staff(app, role, username=None, password=PASSWORD, **extra):
    """Insert a staff user straight into the database (as create-admin would)."""
    number = next(_counter)
    username = username or f"{role}{number}"
    with app.app_context():
        return UserRepository(get_db()).create({
            "username": username,
            "email": extra.pop("email", f"{username}@staff.example"),
            "password_hash": hash_password(password),
            "first_name": extra.pop("first_name", role.title()),
            "last_name": extra.pop("last_name", f"User{number}"),
            "phone": None,
            "role": role,
            **extra,
        })


def login(client, username, password=PASSWORD):
    response = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def register(client, username=None, **fields):
    number = next(_counter)
    username = username or f"cust{number}"
    body = {"username": username, "email": f"{username}@mail.example", "password": PASSWORD,
            "first_name": "Cust", "last_name": f"Omer{number}", **fields}
    response = client.post("/api/v1/auth/register", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.fixture
def anon(client):
    return Api(client)


@pytest.fixture
def admin(app, client):
    user = make_staff(app, "admin")
    tokens = login(client, user["username"])
    return Api(client, tokens["access_token"], tokens["user"])


@pytest.fixture
def sales(app, client):
    user = make_staff(app, "sales")
    tokens = login(client, user["username"])
    return Api(client, tokens["access_token"], tokens["user"])


@pytest.fixture
def customer(client):
    """A self-registered customer user, logged in; `.customer_id` is its own record."""
    registered = register(client)
    tokens = login(client, registered["user"]["username"])
    api = Api(client, tokens["access_token"], tokens["user"])
    api.customer_id = registered["customer"]["id"]
    return api


@pytest.fixture
def other_customer(client):
    registered = register(client)
    tokens = login(client, registered["user"]["username"])
    api = Api(client, tokens["access_token"], tokens["user"])
    api.customer_id = registered["customer"]["id"]
    return api


def assert_error(response, status, code=None):
    """The one error shape: status, code, message, request_id (and errors when there are field errors)."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:500])
    body = response.get_json()
    assert body is not None, "error responses are JSON"
    assert body["status"] == status
    if code:
        assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert "Traceback" not in response.get_data(as_text=True)
    return body


@pytest.fixture
def smtp():
    """A real SMTP server (aiosmtpd) on a free local port, for the e-mail tests; `smtp.messages` were delivered."""
    with running_smtp_server() as server:
        yield server
