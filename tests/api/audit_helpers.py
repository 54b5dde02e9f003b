"""Shared helpers for the audit log tests."""
AUDIT = "/api/v1/audit"


def entries(admin, **filters):
    """Every audit entry matching `filters`, newest first (asserting 200)."""
    response = admin.get(AUDIT, query_string={"size": 100, **filters})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def only_entry(admin, **filters):
    found = entries(admin, **filters)
    assert len(found) == 1, found
    return found[0]


def created(api, path, body):
    response = api.post(path, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()
