"""Who may do what with feedback (SPEC §4): admin all; sales read and resolve; customers create and read own."""
import pytest

from tests.api.test_feedback import FEEDBACK, submit
from tests.conftest import assert_error

ROLES = ("anon", "customer", "other_customer", "sales", "admin")

# endpoint -> expected status for each role in ROLES
MATRIX = {
    "create": (401, 201, 201, 403, 201),
    "list": (401, 200, 200, 200, 200),
    "stats": (401, 403, 403, 200, 200),
    "read": (401, 200, 404, 200, 200),
    "resolve": (401, 403, 403, 200, 200),
    "replace": (401, 403, 403, 200, 200),
    "delete": (401, 403, 403, 403, 204),
}


def _request(endpoint, feedback, customer_id):
    one = f"{FEEDBACK}/{feedback['id']}"
    return {
        "create": ("post", FEEDBACK, {"rating": 4, "customer_id": customer_id}),
        "list": ("get", FEEDBACK, None),
        "stats": ("get", f"{FEEDBACK}/stats", None),
        "read": ("get", one, None),
        "resolve": ("patch", one, {"resolution_notes": "Done"}),
        "replace": ("put", one, {"resolved": True}),
        "delete": ("delete", one, None),
    }[endpoint]


@pytest.mark.parametrize("endpoint", sorted(MATRIX))
@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(request, db, customer, endpoint, role):
    feedback = submit(customer, comments="Good tour")
    before = list(db.feedback.find())
    api = request.getfixturevalue(role)
    method, path, body = _request(endpoint, feedback, customer.customer_id)
    response = getattr(api, method)(path, **({} if body is None else {"json": body}))
    expected = MATRIX[endpoint][ROLES.index(role)]
    if expected >= 400:
        assert_error(response, expected)
        assert list(db.feedback.find()) == before
    else:
        assert response.status_code == expected, response.get_json()

