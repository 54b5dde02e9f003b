"""Generated requests against every documented operation: never a 5xx, and every answer is as documented.

Schemathesis reads the app's own /openapi.json, so new endpoints join automatically. The response must not
be a server error, its status must be one the operation documents, its content type the documented one, and
its body must match the documented schema. With an admin token every operation gets schemathesis' coverage
examples (boundary and invalid values of every parameter) plus generated ones; with a sales and a customer
token, generated ones only, to keep the run short.
"""
import mongomock
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from crm_service import create_app
from crm_service.config import TestConfig
from tests.conftest import login, make_staff, register

APP = create_app(TestConfig(), mongo_client=mongomock.MongoClient(tz_aware=True))
CLIENT = APP.test_client()
make_staff(APP, "admin", username="fuzz-admin")
make_staff(APP, "sales", username="fuzz-sales")
register(CLIENT, username="fuzz-customer")
USERS = {"admin": "fuzz-admin", "sales": "fuzz-sales", "customer": "fuzz-customer"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
schema = schemathesis.openapi.from_wsgi("/openapi.json", APP)


def _call_and_check(case, role):
    # A fresh login per case: generated calls to /auth/logout or /auth/password must not starve the rest.
    token = login(CLIENT, USERS[role])["access_token"]
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
    response = case.call()
    assert response.status_code < 500, (role, case.method, case.path, response.status_code, response.text[:300])
    case.validate_response(response, checks=CHECKS)
    if response.status_code >= 400:
        body = response.json()
        assert body["status"] == response.status_code and body["code"] and body["message"]
        assert body["request_id"] == response.headers["x-request-id"][0]


@schema.parametrize()
@settings(max_examples=5, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_as_admin_answers_as_documented(case):
    _call_and_check(case, "admin")


@pytest.mark.parametrize("role", ["sales", "customer"])
@schema.parametrize()
@settings(max_examples=5, derandomize=True, deadline=None, phases=[Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_every_operation_as_sales_or_customer_answers_as_documented(case, role):
    _call_and_check(case, role)
