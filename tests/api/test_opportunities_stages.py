"""Opportunity stages: history, closed_at, probability, lost_reason, and the customer a won deal activates."""
import pytest
from bson import ObjectId

from crm_service.schemas.common import iso_z
from tests.api.test_opportunities import OPPORTUNITIES, make_customer, make_opportunity
from tests.conftest import Api, assert_error, login, make_staff


def move(api, opportunity, **changes):
    response = api.patch(f"{OPPORTUNITIES}/{opportunity['id']}", json=changes)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.fixture
def customer_id(admin):
    return make_customer(admin)["id"]


def test_stage_change_appends_to_history_with_who_and_when(sales, admin, customer_id):
    created = make_opportunity(sales, customer_id)
    moved = move(admin, created, stage="proposal")

    assert [entry["stage"] for entry in moved["stage_history"]] == ["prospecting", "proposal"]
    assert moved["stage_history"][1] == {"stage": "proposal", "at": moved["updated_at"], "by": admin.user["id"]}


def test_history_grows_by_one_per_stage_change_only(sales, customer_id, db):
    created = make_opportunity(sales, customer_id)
    move(sales, created, stage="qualification")
    move(sales, created, title="Same stage")
    moved = move(sales, created, stage="qualification")

    assert [entry["stage"] for entry in moved["stage_history"]] == ["prospecting", "qualification"]
    assert len(db.opportunities.find_one({"_id": ObjectId(created["id"])})["stage_history"]) == 2


def test_stage_change_resets_probability_to_the_new_stage_default(sales, customer_id):
    created = make_opportunity(sales, customer_id, probability=40)
    assert move(sales, created, stage="negotiation")["probability"] == 75


def test_stage_change_keeps_a_probability_given_with_it(sales, customer_id):
    created = make_opportunity(sales, customer_id)
    assert move(sales, created, stage="negotiation", probability=90)["probability"] == 90


def test_probability_alone_changes_without_touching_the_stage(sales, customer_id):
    created = make_opportunity(sales, customer_id, stage="proposal")
    moved = move(sales, created, probability=60)
    assert (moved["stage"], moved["probability"], len(moved["stage_history"])) == ("proposal", 60, 1)


@pytest.mark.parametrize("stage", ["won", "lost"])
def test_closing_sets_closed_at(sales, customer_id, stage):
    created = make_opportunity(sales, customer_id)
    moved = move(sales, created, stage=stage)
    assert moved["closed_at"] == moved["updated_at"]


def test_reopening_clears_closed_at_and_lost_reason(sales, customer_id, db):
    created = make_opportunity(sales, customer_id, stage="lost", lost_reason="Too expensive")
    moved = move(sales, created, stage="negotiation")

    assert (moved["closed_at"], moved["lost_reason"], moved["probability"]) == (None, None, 75)
    stored = db.opportunities.find_one({"_id": ObjectId(created["id"])})
    assert stored["closed_at"] is None and stored["lost_reason"] is None


def test_moving_to_lost_with_a_reason_stores_it(sales, customer_id):
    created = make_opportunity(sales, customer_id, stage="negotiation")
    moved = move(sales, created, stage="lost", lost_reason="Budget cut")
    assert (moved["stage"], moved["lost_reason"], moved["probability"]) == ("lost", "Budget cut", 0)


def test_lost_reason_may_be_added_later_to_a_lost_opportunity(sales, customer_id):
    created = make_opportunity(sales, customer_id, stage="lost")
    assert move(sales, created, lost_reason="No answer")["lost_reason"] == "No answer"


def test_lost_reason_on_an_open_opportunity_is_422_and_changes_nothing(sales, customer_id, db):
    created = make_opportunity(sales, customer_id)
    error = assert_error(sales.patch(f"{OPPORTUNITIES}/{created['id']}", json={"lost_reason": "Why"}), 422)

    assert error["errors"] == {"lost_reason": ["Only a lost opportunity has a lost reason."]}
    assert db.opportunities.find_one({"_id": ObjectId(created["id"])})["lost_reason"] is None


def test_reopening_while_giving_a_lost_reason_is_422(sales, customer_id):
    created = make_opportunity(sales, customer_id, stage="lost", lost_reason="Price")
    response = sales.patch(f"{OPPORTUNITIES}/{created['id']}", json={"stage": "proposal", "lost_reason": "X"})
    assert assert_error(response, 422)["errors"] == {"lost_reason": ["Only a lost opportunity has a lost reason."]}


def test_won_to_lost_moves_closed_at_and_history(sales, customer_id):
    created = make_opportunity(sales, customer_id, stage="won")
    moved = move(sales, created, stage="lost")
    assert moved["closed_at"] == moved["updated_at"]
    assert [entry["stage"] for entry in moved["stage_history"]] == ["won", "lost"]


@pytest.fixture
def login_other_sales(app, client):
    user = make_staff(app, "sales")
    tokens = login(client, user["username"])
    return Api(client, tokens["access_token"], tokens["user"])


# -- a won deal activates its customer -------------------------------------------------------------

@pytest.mark.parametrize("status", ["lead", "prospect"])
def test_moving_to_won_turns_a_lead_or_prospect_customer_active(sales, admin, db, status):
    customer = make_customer(admin, status=status)
    created = make_opportunity(sales, customer["id"], stage="negotiation")
    won = move(sales, created, stage="won")

    stored = db.customers.find_one({"_id": ObjectId(customer["id"])})
    assert stored["status"] == "active"
    assert stored["version"] == customer["version"] + 1
    assert iso_z(stored["updated_at"]) == won["updated_at"]
    response = admin.get(f"/api/v1/customers/{customer['id']}")
    assert response.get_json()["status"] == "active"
    assert response.headers["ETag"] == f'"{customer["id"]}-{customer["version"] + 1}"'


def test_creating_an_opportunity_as_won_activates_the_customer(sales, admin, db):
    customer = make_customer(admin)
    make_opportunity(sales, customer["id"], stage="won")
    assert db.customers.find_one({"_id": ObjectId(customer["id"])})["status"] == "active"


@pytest.mark.parametrize("status", ["active", "inactive", "churned"])
def test_moving_to_won_leaves_other_customer_statuses_alone(sales, admin, db, status):
    customer = make_customer(admin, status=status)
    created = make_opportunity(sales, customer["id"])
    move(sales, created, stage="won")

    stored = db.customers.find_one({"_id": ObjectId(customer["id"])})
    assert (stored["status"], stored["version"]) == (status, customer["version"])


def test_other_stages_do_not_activate_the_customer(sales, admin, db):
    customer = make_customer(admin, status="prospect")
    created = make_opportunity(sales, customer["id"])
    for stage in ("qualification", "proposal", "negotiation", "lost"):
        move(sales, created, stage=stage)
    assert db.customers.find_one({"_id": ObjectId(customer["id"])})["status"] == "prospect"


def test_a_rejected_move_to_won_does_not_activate_the_customer(sales, admin, db):
    customer = make_customer(admin)
    created = make_opportunity(sales, customer["id"])
    response = sales.patch(f"{OPPORTUNITIES}/{created['id']}", json={"stage": "won"},
                           headers={"If-Match": '"stale-1"'})

    assert_error(response, 412)
    assert db.customers.find_one({"_id": ObjectId(customer["id"])})["status"] == "lead"


def test_moving_a_won_opportunity_to_a_lead_customer_activates_that_customer(sales, admin, db):
    first, second = make_customer(admin, status="active"), make_customer(admin)
    created = make_opportunity(sales, first["id"], stage="won")
    move(sales, created, customer_id=second["id"])
    assert db.customers.find_one({"_id": ObjectId(second["id"])})["status"] == "active"


def test_stage_history_by_is_the_user_who_moved_it(sales, login_other_sales, customer_id):
    created = make_opportunity(sales, customer_id)
    moved = move(login_other_sales, created, stage="qualification")
    assert moved["stage_history"][-1]["by"] == login_other_sales.user["id"]
    assert moved["owner_id"] == sales.user["id"]
