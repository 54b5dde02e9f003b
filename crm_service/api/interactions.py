"""Interactions: each customer's embedded history, meetings, and the all-customers views."""
from datetime import timedelta

from flask import Blueprint, current_app, request, url_for

from crm_service.auth.decorators import current_principal, require
from crm_service.db import get_db
from crm_service.errors import NotFound, invalid
from crm_service.repositories.base import to_object_id, utcnow
from crm_service.repositories.interactions import ElementFilter, InteractionRepository
from crm_service.repositories.tombstones import TombstoneRepository
from crm_service.repositories.users import UserRepository
from crm_service.schemas.interactions import (
    STAFF_ONLY_FIELDS,
    FeedQuerySchema,
    FollowUpQuerySchema,
    HistoryQuerySchema,
    InteractionSchema,
    MeetingSchema,
    UpcomingQuerySchema,
)
from crm_service.services import audit

from .customers import confine_to_own, visible_customer
from .docs import operation
from .etags import check_if_match, record_with_etag
from .helpers import load_body, load_query, no_content, page_request, page_response, sort_of

bp = Blueprint("interactions", __name__, url_prefix="/api/v1")

interaction_schema = InteractionSchema()
customer_view_schema = InteractionSchema(exclude=STAFF_ONLY_FIELDS)
meeting_schema = MeetingSchema()
history_query_schema = HistoryQuerySchema()
feed_query_schema = FeedQuerySchema()
upcoming_query_schema = UpcomingQuerySchema()
follow_up_query_schema = FollowUpQuerySchema()
UPCOMING_WINDOW = timedelta(days=30)


def _repository():
    return InteractionRepository(get_db(), current_app.config["INTERACTION_EMBED_LIMIT"])


def _output_schema():
    return customer_view_schema if current_principal().is_customer else interaction_schema


def _employee(data):
    """employee_id defaults to the caller; one that is not an active staff user is 422."""
    employee_id = data.get("employee_id") or current_principal().user_id
    if data.get("employee_id") and not UserRepository(get_db()).is_active_staff(employee_id):
        raise invalid({"employee_id": ["Not an active staff user."]})
    return to_object_id(employee_id)


def _time_filter(query, element_filter, field="occurred_at"):
    bounds = {}
    if query.get("from_"):
        bounds["$gte"] = query["from_"]
    if query.get("to"):
        bounds["$lt"] = query["to"]
    if bounds:
        element_filter.ranges[field] = bounds
    if query.get("updated_since"):
        element_filter.ranges["updated_at"] = {"$gt": query["updated_since"]}
    return element_filter


def _fixed_sort(query, schema, message):
    """Lists that have one order only: any other `sort` is 422 rather than silently ignored."""
    if (query.get("sort") or schema.default_sort) != schema.default_sort:
        raise invalid({"sort": [message]}, "Query string is invalid")


def _history_filter(query):
    element_filter = ElementFilter({name: query[name] for name in ("type", "status") if query.get(name)})
    for name in ("employee_id",):
        if query.get(name):
            element_filter.equals[name] = to_object_id(query[name])
    if query.get("follow_up_required") is not None:
        element_filter.equals["follow_up_required"] = query["follow_up_required"]
    return _time_filter(query, element_filter)


def _scope_customer(query):
    """Customer users only ever see their own; a customer_id they pass is ignored."""
    principal = current_principal()
    if principal.is_customer:
        return principal.customer_id
    return query.get("customer_id")


def _store(customer_id, data):
    """Embed the interaction and answer 201 with its Location."""
    interaction = _repository().add(
        customer_id, data, audit_entry=lambda item: audit.pending("create", "interactions", item["id"], after=item))
    if interaction is None:
        raise NotFound("Customer not found")
    audit.outbox_written(interaction["customer_id"])
    location = url_for("interactions.get_interaction", customer_id=customer_id, interaction_id=str(interaction["id"]))
    return record_with_etag(interaction_schema.dump(interaction), _versioned(interaction), 201, location)


def _versioned(interaction):
    """Interactions have no version of their own: their ETag comes from `updated_at` (milliseconds)."""
    return {"_id": interaction["id"], "version": int(interaction["updated_at"].timestamp() * 1000)}


def _if_match_time(current):
    """The time a conditional write must still find (None without If-Match); 412 at once when stale."""
    check_if_match(_versioned(current))
    return current["updated_at"] if request.headers.get("If-Match") else None


@bp.post("/customers/<customer_id>/interactions")
@require("crm:create:interactions")
@operation("Log an interaction; moves last_interaction_at in the same write", tags=["interactions"],
           body=InteractionSchema, response=InteractionSchema, status=201)
def add_interaction(customer_id):
    # Only staff may write interactions; the write itself reports a missing customer (404).
    data = load_body(interaction_schema)
    data["employee_id"] = _employee(data)
    data.setdefault("occurred_at", utcnow())
    if "status" not in data:
        future_meeting = data["type"] == "meeting" and data["occurred_at"] > utcnow()
        data["status"] = "scheduled" if future_meeting else "completed"
    return _store(customer_id, data)


@bp.post("/customers/<customer_id>/meetings")
@require("crm:create:interactions")
@operation("Schedule a meeting (an interaction of type meeting)", tags=["interactions"], body=MeetingSchema,
           response=InteractionSchema, status=201)
def schedule_meeting(customer_id):
    data = load_body(meeting_schema)
    scheduled_at = data.pop("scheduled_at")
    data.update({
        "type": "meeting",
        "occurred_at": scheduled_at,
        "status": "scheduled" if scheduled_at > utcnow() else "completed",
        "employee_id": _employee(data),
        "follow_up_required": False,
    })
    return _store(customer_id, data)


@bp.get("/customers/<customer_id>/interactions")
@require("crm:read:interactions")
@operation("A customer's interaction history, newest first", tags=["interactions"], query=HistoryQuerySchema,
           response=InteractionSchema, paged=True)
def list_history(customer_id):
    query = load_query(history_query_schema)
    confine_to_own(customer_id)  # the history read itself is the existence check: one round trip, not two
    direction = sort_of(query, history_query_schema)[0][1]
    page = _repository().history(customer_id, _history_filter(query), direction, page_request(query))
    if page is None:
        raise NotFound("Customer not found")
    return page_response(page, _output_schema())


@bp.get("/customers/<customer_id>/interactions/<interaction_id>")
@require("crm:read:interactions")
@operation("Read one interaction", tags=["interactions"], response=InteractionSchema)
def get_interaction(customer_id, interaction_id):
    visible_customer(customer_id)
    interaction = _repository().get(customer_id, interaction_id)
    if interaction is None:
        raise NotFound("Interaction not found")
    return record_with_etag(_output_schema().dump(interaction), _versioned(interaction))


@bp.route("/customers/<customer_id>/interactions/<interaction_id>", methods=["PATCH", "PUT"])
@require("crm:update:interactions")
@operation("Change an interaction (follow_up_required: false marks a follow-up done)", tags=["interactions"],
           body=InteractionSchema, body_partial=True, response=InteractionSchema, errors=(412,),
           description="`If-Match` with the ETag of the interaction (from `updated_at`) makes the change "
                       "conditional: 412 and nothing changed when it moved on.")
def update_interaction(customer_id, interaction_id):
    changes = load_body(interaction_schema, partial=True)
    visible_customer(customer_id)
    if "employee_id" in changes:
        changes["employee_id"] = _employee(changes)
    repository = _repository()
    before = repository.get(customer_id, interaction_id)
    if before is None:
        raise NotFound("Interaction not found")
    expected = _if_match_time(before)
    interaction = repository.update(customer_id, interaction_id, changes, expected) if changes else before
    if interaction is None:
        _lost_race(repository, customer_id, interaction_id, before)
    if changes:
        audit.record("update", "interactions", before["id"], before=before, after=interaction)
    return record_with_etag(interaction_schema.dump(interaction), _versioned(interaction))


def _lost_race(repository, customer_id, interaction_id, before):
    """A conditional write that matched nothing: 412 if the interaction is still there (it changed), else 404."""
    if repository.get(customer_id, interaction_id) is not None:
        check_if_match(_versioned(before), force=True)
    raise NotFound("Interaction not found")


@bp.delete("/customers/<customer_id>/interactions/<interaction_id>")
@require("crm:delete:interactions")
@operation("Delete an interaction", tags=["interactions"], status=204, errors=(412,))
def delete_interaction(customer_id, interaction_id):
    visible_customer(customer_id)
    repository = _repository()
    before = repository.get(customer_id, interaction_id)
    if before is None:
        raise NotFound("Interaction not found")
    if not repository.delete(customer_id, interaction_id, _if_match_time(before)):
        _lost_race(repository, customer_id, interaction_id, before)
    TombstoneRepository(get_db()).record("interactions", before["id"], to_object_id(customer_id))
    audit.record("delete", "interactions", before["id"], before=before)
    return no_content()


@bp.get("/interactions")
@require("crm:read:interactions")
@operation("Every customer's interactions, newest first", tags=["interactions"], query=FeedQuerySchema,
           response=InteractionSchema, paged=True)
def feed():
    query = load_query(feed_query_schema)
    _fixed_sort(query, feed_query_schema, "The feed is newest first: sort=-occurred_at.")
    customer_id = _scope_customer(query)
    if customer_id is not None and to_object_id(customer_id) is None:
        raise invalid({"customer_id": ["Not a valid id."]}, "Query string is invalid")
    page = _repository().feed(_history_filter(query), page_request(query), customer_id)
    return page_response(page, _output_schema())


@bp.get("/interactions/upcoming")
@require("crm:read:interactions")
@operation("Scheduled meetings, soonest first (default: the next 30 days)", tags=["interactions"],
           query=UpcomingQuerySchema, response=InteractionSchema, paged=True)
def upcoming():
    query = load_query(upcoming_query_schema)
    _fixed_sort(query, upcoming_query_schema, "Upcoming meetings are soonest first: sort=occurred_at.")
    start = query.get("from_") or utcnow()
    end = query.get("to") or start + UPCOMING_WINDOW
    element_filter = ElementFilter({"type": "meeting", "status": "scheduled"},
                                   {"occurred_at": {"$gte": start, "$lt": end}})
    _scoped_filters(query, element_filter)
    page = _repository().scheduled(element_filter, "occurred_at", page_request(query))
    return page_response(page, _output_schema())


@bp.get("/interactions/follow-ups")
@require("crm:read:interactions")
@operation("Follow-ups not yet done, oldest due first", tags=["interactions"], query=FollowUpQuerySchema,
           response=InteractionSchema, paged=True)
def follow_ups():
    query = load_query(follow_up_query_schema)
    _fixed_sort(query, follow_up_query_schema, "Follow-ups are oldest due first: sort=follow_up_date.")
    bounds = {"$ne": None}
    if query.get("due_before"):
        bounds = {"$lt": query["due_before"]}
    element_filter = ElementFilter({"follow_up_required": True}, {"follow_up_date": bounds})
    _scoped_filters(query, element_filter)
    page = _repository().scheduled(element_filter, "follow_up_date", page_request(query))
    return page_response(page, _output_schema())


def _scoped_filters(query, element_filter):
    if query.get("updated_since"):
        element_filter.ranges["updated_at"] = {"$gt": query["updated_since"]}
    if query.get("employee_id"):
        element_filter.equals["employee_id"] = to_object_id(query["employee_id"])
    customer_id = _scope_customer(query)
    if customer_id is not None:
        element_filter.equals["customer_id"] = to_object_id(customer_id)
