"""Database round trips per request, counted on the wire: a change that adds one fails here.

Budget (issue 6): the operation's minimum plus one for the token's session check.
"""
import logging

import pytest
from pymongo import MongoClient, monitoring

from crm_service import create_app
from tests.conftest import login, make_staff


class CommandCounter(monitoring.CommandListener):
    def __init__(self):
        self.names = []

    def started(self, event):
        self.names.append(event.command_name)

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


@pytest.fixture
def counted(config, mongo_uri):
    counter = CommandCounter()
    client = MongoClient(mongo_uri, tz_aware=True, event_listeners=[counter])
    app = create_app(config, mongo_client=client)
    logging.getLogger("crm_service").setLevel(logging.WARNING)
    http = app.test_client()
    make_staff(app, "admin", username="counter")
    headers = {"Authorization": f"Bearer {login(http, 'counter')['access_token']}"}
    customer = http.post("/api/v1/customers", json={"first_name": "Rita", "email": "rita@trips.example"},
                         headers=headers).get_json()
    http.post(f"/api/v1/customers/{customer['id']}/interactions", json={"type": "phone", "notes": "hello"},
              headers=headers)

    def run(method, path, **kwargs):
        counter.names.clear()
        response = http.open(path, method=method, headers=headers, **kwargs)
        assert response.status_code < 300, response.get_json()
        return list(counter.names)

    run.customer_id = customer["id"]
    yield run
    client.close()


def test_read_by_id_is_one_round_trip_plus_auth(counted):
    assert counted("GET", f"/api/v1/customers/{counted.customer_id}") == ["find", "find"]


def test_counted_page_is_two_round_trips_plus_auth(counted):
    assert len(counted("GET", "/api/v1/customers")) == 3


def test_uncounted_page_is_one_round_trip_plus_auth(counted):
    assert len(counted("GET", "/api/v1/customers?count=false")) == 2


def test_interaction_write_is_one_round_trip_plus_auth(counted):
    names = counted("POST", f"/api/v1/customers/{counted.customer_id}/interactions",
                    json={"type": "email", "notes": "sent the quote"})
    assert names == ["find", "update"]


def test_customer_create_is_one_round_trip_plus_auth(counted):
    names = counted("POST", "/api/v1/customers", json={"first_name": "Sam", "email": "sam@trips.example"})
    assert names == ["find", "insert"]


def test_history_page_stays_within_three_round_trips(counted):
    assert len(counted("GET", f"/api/v1/customers/{counted.customer_id}/interactions?count=false")) <= 3
