"""Every endpoint × role × own/other record, generated from the URL map: who gets 401, 403, 404 or through.

The expected outcome comes from what `@require` records on each view (`required_permissions`) and the role
grants in ROLE_PERMISSIONS, so a new endpoint joins the matrix by existing. Customer users are confined to
their own customer record: another customer's record is 404 (SPEC §4), never 403.
"""
import mongomock
import pytest

from crm_service import create_app
from crm_service.api.docs import openapi_path
from crm_service.auth.permissions import ROLE_PERMISSIONS
from crm_service.config import TestConfig
from tests.api.campaign_world import World

# Endpoints anyone may call without a token, by path (SPEC §4, §6, §7). Anything else must demand a token.
PUBLIC_PATHS = {
    "/api/v1/auth/login", "/api/v1/auth/register",
    "/api/v1/auth/password-reset", "/api/v1/auth/password-reset/confirm",
    "/api/v1/t/{token}.gif",
    "/health/live", "/health/ready", "/openapi.json", "/apidocs/", "/apidocs/index.html", "/oauth2-redirect.html",
}
STATIC_ENDPOINTS = ("static", "flasgger.static")
# Customer users hold the resource permission but these views are for staff (SPEC §4, §8): 403 for them.
STAFF_ONLY_FOR_CUSTOMERS = {
    ("GET", "/api/v1/customers/export"),
    ("GET", "/api/v1/feedback/stats"),
    ("PATCH", "/api/v1/tickets/{ticket_id}"),
    ("DELETE", "/api/v1/tickets/{ticket_id}"),
    ("POST", "/api/v1/tickets/{ticket_id}/assign"),
    ("DELETE", "/api/v1/customers/{customer_id}"),
}
# Path arguments that name something a customer user owns or not; anything else gets one existing record.
CUSTOMER_SCOPED = ("customer_id", "ticket_id", "feedback_id", "company_id", "interaction_id")
ROLES = ("customer", "sales", "admin")


def _operations():
    app = create_app(TestConfig(), mongo_client=mongomock.MongoClient(tz_aware=True))
    found = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint in STATIC_ENDPOINTS:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((method, rule.rule, rule.endpoint))
    return found


OPERATIONS = _operations()


def _cells(world, method, rule):
    """(role, variant, expected) for one operation; expected is 401, 403, 404 or 'allowed'."""
    view = world.app.view_functions[rule.endpoint]
    template = openapi_path(rule)
    scoped = any(name in CUSTOMER_SCOPED for name in rule.arguments)
    cells = [(None, 0, 401)]
    for role in ROLES:
        granted = set(view.required_permissions) <= ROLE_PERMISSIONS[role]
        variants = (1, 0) if role == "customer" and scoped else (0,)
        for variant in variants:
            if not granted or (role == "customer" and (method, template) in STAFF_ONLY_FOR_CUSTOMERS):
                expected = 403
            elif role == "customer" and variant == 1:
                expected = 404
            else:
                expected = "allowed"
            cells.append((role, variant, expected))
    return cells


@pytest.fixture(scope="module")
def world():
    return World()


def test_every_unprotected_endpoint_is_listed_as_public(world):
    app = world.app
    unprotected = {openapi_path(rule) for rule in app.url_map.iter_rules()
                   if rule.endpoint not in STATIC_ENDPOINTS
                   and not getattr(app.view_functions[rule.endpoint], "requires_auth", False)}
    assert unprotected <= PUBLIC_PATHS, sorted(unprotected - PUBLIC_PATHS)
    assert {"/api/v1/auth/login", "/api/v1/auth/register", "/health/live"} <= unprotected


@pytest.mark.parametrize(("method", "rule_text", "endpoint"), OPERATIONS,
                         ids=[f"{method} {rule}" for method, rule, _ in OPERATIONS])
def test_authorization_matrix(world, method, rule_text, endpoint):
    world.reset()
    rule = next(r for r in world.app.url_map.iter_rules() if r.endpoint == endpoint and r.rule == rule_text)
    view = world.app.view_functions[endpoint]
    if not getattr(view, "requires_auth", False):
        response = world.send(method, world.path(rule, 0), None)
        assert response.status_code not in (401, 403), (method, rule_text, response.status_code)
        return
    refresh = rule_text == "/api/v1/auth/refresh"  # takes the refresh token (SPEC §8)
    outcomes = []
    for role, variant, expected in _cells(world, method, rule):
        response = world.send(method, world.path(rule, variant), role, refresh)
        status = response.status_code
        ok = status not in (401, 403) if expected == "allowed" else status == expected
        outcomes.append((role or "anonymous", "other" if variant else "own", expected, status, ok))
        if status >= 400:
            body = response.get_json()
            assert body["status"] == status and body["request_id"] == response.headers["X-Request-ID"]
    wrong = [cell for cell in outcomes if not cell[-1]]
    assert not wrong, (method, rule_text, wrong)


def test_matrix_covers_every_operation_and_role(world):
    cells = 0
    for method, rule_text, endpoint in OPERATIONS:
        rule = next(r for r in world.app.url_map.iter_rules() if r.endpoint == endpoint and r.rule == rule_text)
        if getattr(world.app.view_functions[endpoint], "requires_auth", False):
            cells += len(_cells(world, method, rule))
        else:
            cells += 1
    print(f"\nauthorization matrix: {len(OPERATIONS)} operations, {cells} cells")
    assert cells >= 4 * len([op for op in OPERATIONS if op[1].startswith("/api/v1/") and "auth/" not in op[1]])
