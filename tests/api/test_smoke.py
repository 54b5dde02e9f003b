"""The service starts and answers its probes and docs."""


def test_live_probe_answers_ok(client):
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_ready_probe_answers_ok_when_database_answers(client):
    assert client.get("/health/ready").status_code == 200


def test_admin_can_list_customers(admin):
    response = admin.get("/api/v1/customers")
    assert response.status_code == 200
    assert response.get_json()["items"] == []
