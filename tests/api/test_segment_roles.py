"""Who may do what with segments (SPEC §4): admin all; sales read, create, update; customers nothing."""
import pytest

from tests.api.test_segments import SEGMENTS, make_segment
from tests.conftest import assert_error

ROLES = ("anon", "customer", "sales", "admin")

# endpoint -> expected status for each role in ROLES
MATRIX = {
    "list": (401, 403, 200, 200),
    "create": (401, 403, 201, 201),
    "preview": (401, 403, 200, 200),
    "read": (401, 403, 200, 200),
    "update": (401, 403, 200, 200),
    "delete": (401, 403, 403, 204),
    "recalculate": (401, 403, 200, 200),
    "members": (401, 403, 200, 200),
}


def _request(endpoint, segment):
    one = f"{SEGMENTS}/{segment['id']}"
    return {
        "list": ("get", SEGMENTS, None),
        "create": ("post", SEGMENTS, {"name": "Another", "criteria": {"status": ["lead"]}}),
        "preview": ("post", f"{SEGMENTS}/preview", {"criteria": {"status": ["lead"]}}),
        "read": ("get", one, None),
        "update": ("patch", one, {"description": "Changed"}),
        "delete": ("delete", one, None),
        "recalculate": ("post", f"{one}/recalculate", None),
        "members": ("get", f"{one}/customers", None),
    }[endpoint]


@pytest.mark.parametrize("endpoint", sorted(MATRIX))
@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(request, db, admin, endpoint, role):
    segment = make_segment(admin, "Leads", criteria={"status": ["lead"]})
    before = list(db.segments.find())
    api = request.getfixturevalue(role)
    method, path, body = _request(endpoint, segment)
    response = getattr(api, method)(path, **({} if body is None else {"json": body}))
    expected = MATRIX[endpoint][ROLES.index(role)]
    if expected >= 400:
        assert_error(response, expected)
        assert list(db.segments.find()) == before
    else:
        assert response.status_code == expected, response.get_json()
