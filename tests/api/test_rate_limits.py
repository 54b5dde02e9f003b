"""Rate limits (SPEC §7, §8): counted in MongoDB per user, per customer or per client address; RateLimit-* headers."""
import itertools

import mongomock
import pytest
from pymongo.errors import ServerSelectionTimeoutError

from crm_service import create_app
from crm_service.config import ConfigError, TestConfig
from crm_service.ratelimit import ENDPOINT_LIMITS, EXTENSION_KEY, Rate, parse_rates
from tests.conftest import PASSWORD, Api, assert_error, login, make_staff

CUSTOMERS = "/api/v1/customers"
FEEDBACK = "/api/v1/feedback"
LOGIN = "/api/v1/auth/login"
REGISTER = "/api/v1/auth/register"
UNKNOWN = "/api/v1/no-such-thing"
T0 = 1_900_000_800 + 5  # five seconds into an hour (and a minute)
_numbers = itertools.count(1)


class Clock:
    """The limiter's clock, moved by the test instead of waiting."""

    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


def limited_config(**overrides):
    config = TestConfig()
    config.RATE_LIMITS_ENABLED = True
    config.RATE_LIMIT_DEFAULT = "10/minute"
    config.RATE_LIMIT_CUSTOMER_CREATE = "3/minute"
    config.RATE_LIMIT_INTERACTION_CREATE = "3/minute"
    config.RATE_LIMIT_FEEDBACK_CREATE = "2/minute"
    config.RATE_LIMIT_REGISTER = "4/hour"
    config.RATE_LIMIT_LOGIN_IP = "6/minute"
    for name, value in overrides.items():
        setattr(config, name, value)
    return config


@pytest.fixture
def config():
    return limited_config()


@pytest.fixture
def clock():
    return Clock(T0)


@pytest.fixture
def app(app, clock):
    app.extensions[EXTENSION_KEY].clock = clock
    return app


def limits(response):
    return tuple(int(response.headers[f"RateLimit-{name}"]) for name in ("Limit", "Remaining", "Reset"))


def address(ip):
    return {"environ_base": {"REMOTE_ADDR": ip}}


def new_customer_body():
    number = next(_numbers)
    return {"first_name": "Ann", "email": f"ann{number}@rate.example"}


def assert_rate_limited(response):
    body = assert_error(response, 429, "rate_limited")
    assert response.mimetype == "application/json"
    retry_after = response.headers["Retry-After"]
    assert retry_after.isdigit() and int(retry_after) > 0
    assert response.headers["RateLimit-Remaining"] == "0"
    assert response.headers["RateLimit-Reset"] == retry_after
    return body


# --- headers --------------------------------------------------------------------------------------

def test_every_api_response_carries_the_headers_errors_included(client, admin):
    responses = {
        "ok": admin.get(CUSTOMERS),
        "401": client.get(CUSTOMERS),
        "bad token": client.get(CUSTOMERS, headers={"Authorization": "Bearer nonsense"}),
        "404 route": client.get(UNKNOWN),
        "404 record": admin.get(CUSTOMERS + "/0123456789abcdef01234567"),
        "405": client.delete(CUSTOMERS),
        "415": admin.post(CUSTOMERS, data="x", content_type="text/plain"),
        "422": admin.post(CUSTOMERS, json={}),
    }

    for name, response in responses.items():
        limit, remaining, reset = limits(response)
        assert limit > 0 and 0 <= remaining < limit and 0 < reset <= 60, name


def test_health_probes_and_docs_are_not_limited(client):
    for _ in range(15):
        response = client.get("/health/live")
        assert response.status_code == 200
    assert "RateLimit-Limit" not in response.headers
    assert "RateLimit-Limit" not in client.get("/openapi.json").headers


def test_remaining_counts_down_and_reset_counts_to_the_window_end(admin, clock):
    clock.advance(60)  # a fresh minute, after the fixture's login
    first, second, third = (admin.get(CUSTOMERS) for _ in range(3))

    assert [limits(r)[:2] for r in (first, second, third)] == [(10, 9), (10, 8), (10, 7)]
    assert limits(first)[2] == 55  # the window started 5 s ago
    clock.advance(20)
    assert limits(admin.get(CUSTOMERS)) == (10, 6, 35)


def test_headers_describe_the_tightest_limit(admin, clock):
    clock.advance(60)
    admin.get(CUSTOMERS)

    created = admin.post(CUSTOMERS, json=new_customer_body())

    assert created.status_code == 201
    assert limits(created) == (3, 2, 55)  # 3/minute for creation is tighter than the 8 left of 10/minute
    assert limits(admin.get(CUSTOMERS))[:2] == (10, 7)


def test_no_headers_and_no_counting_when_limits_are_off(app, db):
    app.extensions[EXTENSION_KEY].enabled = False
    client = app.test_client()

    for _ in range(12):
        response = client.get(UNKNOWN)

    assert response.status_code == 404 and "RateLimit-Limit" not in response.headers
    assert db.rate_limits.count_documents({}) == 0


# --- 429 --------------------------------------------------------------------------------------------

def test_request_over_the_limit_is_429_in_the_error_shape_and_the_view_does_not_run(admin, db, clock):
    clock.advance(60)
    for _ in range(10):
        assert admin.get(CUSTOMERS).status_code == 200
    customers_before = db.customers.count_documents({})

    rejected = admin.post(CUSTOMERS, json=new_customer_body())

    body = assert_rate_limited(rejected)
    assert body["message"] == "Too many requests; try again later"
    assert int(rejected.headers["Retry-After"]) == 55
    assert db.customers.count_documents({}) == customers_before


def test_the_window_resets(admin, clock):
    clock.advance(60)
    for _ in range(10):
        admin.get(CUSTOMERS)
    assert_rate_limited(admin.get(CUSTOMERS))

    clock.advance(54)
    assert_rate_limited(admin.get(CUSTOMERS))
    clock.advance(1)

    response = admin.get(CUSTOMERS)
    assert response.status_code == 200
    assert limits(response) == (10, 9, 60)


def test_limits_are_per_user(admin, sales, clock):
    clock.advance(60)
    for _ in range(11):
        sales.get(CUSTOMERS)
    assert_rate_limited(sales.get(CUSTOMERS))

    response = admin.get(CUSTOMERS)

    assert response.status_code == 200 and limits(response)[:2] == (10, 9)


def test_a_users_budget_is_shared_by_all_its_logins(app, client, clock):
    user = make_staff(app, "sales")
    first, second = (Api(client, login(client, user["username"])["access_token"]) for _ in range(2))
    clock.advance(60)

    for _ in range(5):
        first.get(CUSTOMERS)
        second.get(CUSTOMERS)

    assert_rate_limited(first.get(CUSTOMERS))
    assert_rate_limited(second.get(CUSTOMERS))


def test_customer_creation_is_limited_per_user(admin, sales, db, clock):
    clock.advance(60)
    for _ in range(3):
        assert admin.post(CUSTOMERS, json=new_customer_body()).status_code == 201

    assert_rate_limited(admin.post(CUSTOMERS, json=new_customer_body()))

    assert db.customers.count_documents({}) == 3
    assert admin.get(CUSTOMERS).status_code == 200  # other requests still have room
    assert sales.post(CUSTOMERS, json=new_customer_body()).status_code == 201


def test_interactions_and_meetings_share_one_budget(admin, clock):
    customer_id = admin.post(CUSTOMERS, json=new_customer_body()).get_json()["id"]
    clock.advance(60)
    note = {"type": "note", "notes": "Called"}
    meeting = {"scheduled_at": "2031-01-01T10:00:00Z", "subject": "Visit"}

    assert admin.post(f"{CUSTOMERS}/{customer_id}/interactions", json=note).status_code == 201
    assert admin.post(f"{CUSTOMERS}/{customer_id}/meetings", json=meeting).status_code == 201
    assert admin.post(f"{CUSTOMERS}/{customer_id}/interactions", json=note).status_code == 201

    assert_rate_limited(admin.post(f"{CUSTOMERS}/{customer_id}/meetings", json=meeting))
    assert_rate_limited(admin.post(f"{CUSTOMERS}/{customer_id}/interactions", json=note))
    assert admin.patch(f"{CUSTOMERS}/{customer_id}", json={"first_name": "Bo"}).status_code == 200


def test_feedback_is_limited_per_customer(admin, customer, other_customer, db, clock):
    clock.advance(60)
    rating = {"rating": 4}
    assert customer.post(FEEDBACK, json=rating).status_code == 201
    # Staff writing for that customer spend the same customer's budget.
    assert admin.post(FEEDBACK, json={**rating, "customer_id": customer.customer_id}).status_code == 201

    assert_rate_limited(customer.post(FEEDBACK, json=rating))
    assert_rate_limited(admin.post(FEEDBACK, json={**rating, "customer_id": customer.customer_id.upper()}))

    assert db.feedback.count_documents({}) == 2
    assert other_customer.post(FEEDBACK, json=rating).status_code == 201
    assert admin.post(FEEDBACK, json={**rating, "customer_id": other_customer.customer_id}).status_code == 201


# --- by client address --------------------------------------------------------------------------------

def test_requests_without_a_user_are_limited_per_client_address(client):
    for _ in range(10):
        assert client.get(UNKNOWN, **address("10.0.0.1")).status_code == 404

    assert_rate_limited(client.get(UNKNOWN, **address("10.0.0.1")))
    assert_rate_limited(client.get(CUSTOMERS, **address("10.0.0.1")))  # a missing token is no way out

    response = client.get(UNKNOWN, **address("10.0.0.2"))
    assert response.status_code == 404 and limits(response)[:2] == (10, 9)


def test_a_bad_token_counts_against_the_address_not_the_user(client, admin, clock):
    clock.advance(60)
    bad = {"Authorization": "Bearer " + admin.token[:-4] + "AAAA"}
    for _ in range(10):
        assert_error(client.get(CUSTOMERS, headers=bad, **address("10.0.0.3")), 401, "unauthorized")

    assert_rate_limited(client.get(CUSTOMERS, headers=bad, **address("10.0.0.3")))
    assert limits(admin.get(CUSTOMERS))[:2] == (10, 9)


def test_registration_is_limited_per_client_address_per_hour(client, db):
    def registration(number):
        return {"username": f"reg{number}", "email": f"reg{number}@mail.example", "password": PASSWORD,
                "first_name": "Reg"}

    for number in range(4):
        assert client.post(REGISTER, json=registration(number), **address("10.0.1.1")).status_code == 201

    rejected = client.post(REGISTER, json=registration(9), **address("10.0.1.1"))

    assert_rate_limited(rejected)
    assert limits(rejected) == (4, 0, 3600 - 5)
    assert db.users.count_documents({}) == 4
    assert client.post(REGISTER, json=registration(9), **address("10.0.1.2")).status_code == 201


def test_login_is_limited_per_client_address(app, client):
    make_staff(app, "sales", username="lena")
    for number in range(6):  # different accounts, so no account's own lock-out plays a part
        response = client.post(LOGIN, json={"username": f"ghost{number}", "password": "wrong-pass"},
                               **address("10.0.2.1"))
        assert_error(response, 401, "unauthorized")
    assert limits(response)[:2] == (6, 0)

    right = {"username": "lena", "password": PASSWORD}
    assert_rate_limited(client.post(LOGIN, json=right, **address("10.0.2.1")))
    assert client.post(LOGIN, json=right, **address("10.0.2.2")).status_code == 200


def test_forwarded_for_is_ignored_without_trusted_proxies(client):
    for number in range(10):
        client.get(UNKNOWN, headers={"X-Forwarded-For": f"192.0.2.{number}"}, **address("10.0.3.1"))

    assert_rate_limited(client.get(UNKNOWN, headers={"X-Forwarded-For": "192.0.2.99"}, **address("10.0.3.1")))


def test_forwarded_for_names_the_client_behind_a_trusted_proxy():
    app = create_app(limited_config(TRUSTED_PROXY_COUNT=1), mongo_client=mongomock.MongoClient(tz_aware=True))
    client = app.test_client()
    proxy = address("10.0.4.1")
    for _ in range(10):
        client.get(UNKNOWN, headers={"X-Forwarded-For": "203.0.113.1"}, **proxy)

    assert_rate_limited(client.get(UNKNOWN, headers={"X-Forwarded-For": "203.0.113.1"}, **proxy))
    # Only the address the proxy saw counts: a client cannot prepend its own.
    assert_rate_limited(client.get(UNKNOWN, headers={"X-Forwarded-For": "198.51.100.7, 203.0.113.1"}, **proxy))
    assert client.get(UNKNOWN, headers={"X-Forwarded-For": "203.0.113.2"}, **proxy).status_code == 404


# --- shared, stored, preflights -----------------------------------------------------------------------

def test_workers_share_the_counters_through_the_database(clock):
    mongo = mongomock.MongoClient(tz_aware=True)
    workers = [create_app(limited_config(), mongo_client=mongo) for _ in range(2)]
    for worker in workers:
        worker.extensions[EXTENSION_KEY].clock = clock
    clients = [worker.test_client() for worker in workers]

    for number in range(10):
        assert clients[number % 2].get(UNKNOWN).status_code == 404

    assert_rate_limited(clients[0].get(UNKNOWN))
    assert_rate_limited(clients[1].get(UNKNOWN))


def test_windows_are_stored_with_their_expiry(client, db, clock):
    client.get(UNKNOWN, **address("10.0.5.1"))

    window = db.rate_limits.find_one({"_id": {"$regex": r"^ip:10\.0\.5\.1\|"}})
    assert window["default"] == 1
    assert window["expires_at"].timestamp() == T0 - 5 + 60
    ttl = db.rate_limits.index_information()["expires_ttl"]
    assert list(ttl["key"]) == [("expires_at", 1)] and ttl["expireAfterSeconds"] == 0


def test_a_preflight_shows_the_headers_without_being_counted(client):
    client.get(UNKNOWN, **address("10.0.6.1"))

    preflight = client.options(CUSTOMERS, **address("10.0.6.1"))

    assert preflight.status_code == 200 and limits(preflight)[:2] == (10, 9)
    assert limits(client.get(UNKNOWN, **address("10.0.6.1")))[:2] == (10, 8)


def test_counters_out_of_reach_is_503_not_500(client, monkeypatch):
    def unreachable(*args, **kwargs):
        raise ServerSelectionTimeoutError("db.internal:27017: timed out")

    monkeypatch.setattr(mongomock.collection.Collection, "find_one_and_update", unreachable)

    response = client.get(UNKNOWN)

    assert_error(response, 503, "unavailable")
    assert response.headers["Retry-After"] and "db.internal" not in response.get_data(as_text=True)


# --- settings -----------------------------------------------------------------------------------------

def test_every_endpoint_in_the_limit_table_exists(app):
    rules = {rule.endpoint: rule.methods for rule in app.url_map.iter_rules()}
    for method, endpoint in ENDPOINT_LIMITS:
        assert method in rules.get(endpoint, ()), endpoint


@pytest.mark.parametrize(("text", "rates"), [
    ("20/minute", (Rate(20, 60),)),
    ("100 per hour", (Rate(100, 3600),)),
    ("5/2 minutes", (Rate(5, 120),)),
    ("10/second; 1000/day", (Rate(10, 1), Rate(1000, 86400))),
])
def test_limit_settings_use_the_limits_notation(text, rates):
    assert parse_rates("RATE_LIMIT_DEFAULT", text) == rates


@pytest.mark.parametrize("text", ["lots", "0/minute", "20/fortnight", "20", "", "-1/hour"])
def test_a_bad_limit_setting_stops_start_up(text):
    with pytest.raises(ConfigError, match="RATE_LIMIT_FEEDBACK_CREATE"):
        create_app(limited_config(RATE_LIMIT_FEEDBACK_CREATE=text), mongo_client=mongomock.MongoClient())


# --- the tracking pixel -----------------------------------------------------------------------------

def test_the_tracking_pixel_is_never_refused_nor_counted(client, clock):
    """Mail image proxies fetch many pixels from one address: a 429 would be a broken image."""
    clock.advance(60)
    spent = [client.get(UNKNOWN) for _ in range(11)]
    assert_rate_limited(spent[-1])
    for _ in range(5):
        response = client.get("/api/v1/t/" + "A" * 43 + ".gif")
        assert response.status_code == 200 and response.mimetype == "image/gif"
        assert limits(response)[1] == 0  # the address's headers, read but not moved
    assert_rate_limited(client.get(UNKNOWN))


def test_pixel_fetches_do_not_use_up_the_addresss_budget(client, clock):
    clock.advance(60)
    for _ in range(20):
        assert client.get("/api/v1/t/" + "B" * 43 + ".gif").status_code == 200
    assert limits(client.get(UNKNOWN))[:2] == (10, 9)
