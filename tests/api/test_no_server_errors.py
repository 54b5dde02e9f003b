"""Generated requests against every documented operation never get a 5xx (schemathesis)."""
import mongomock
import schemathesis
from hypothesis import HealthCheck, settings

from crm_service import create_app
from crm_service.config import TestConfig
from tests.conftest import login, make_staff

APP = create_app(TestConfig(), mongo_client=mongomock.MongoClient(tz_aware=True))
CLIENT = APP.test_client()
make_staff(APP, "admin", username="fuzz-admin")
schema = schemathesis.openapi.from_wsgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=5, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_operation_answers_a_server_error(case):
    # A fresh login per case: generated calls to /auth/logout or /auth/password must not starve the rest.
    token = login(CLIENT, "fuzz-admin")["access_token"]
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
    response = case.call()
    assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:300])
    if response.status_code >= 400:
        body = response.json()
        assert body["status"] == response.status_code and body["code"] and body["message"]
