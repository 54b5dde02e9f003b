"""Tickets: raise, list, read, change, the status flow (resolve/reopen), comments, assignment."""
from bson import ObjectId
from flask import Blueprint, current_app, url_for

from crm_service.auth.decorators import current_principal, require
from crm_service.db import get_db
from crm_service.errors import Forbidden, NotFound, invalid
from crm_service.repositories.base import to_object_id
from crm_service.repositories.customers import CustomerRepository
from crm_service.repositories.interactions import InteractionRepository
from crm_service.repositories.tickets import MAX_COMMENTS, TicketRepository
from crm_service.repositories.tombstones import TombstoneRepository
from crm_service.repositories.users import UserRepository
from crm_service.schemas.tickets import (
    TRANSITIONS,
    AssignSchema,
    CommentSchema,
    TicketActionSchema,
    TicketListQuerySchema,
    TicketSchema,
    TicketUpdateSchema,
    sources_of,
)
from crm_service.services import audit

from .docs import operation
from .etags import check_if_match, record_with_etag
from .helpers import json_body, load_body, load_query, no_content, page_request, page_response, sort_of

bp = Blueprint("tickets", __name__, url_prefix="/api/v1/tickets")

ticket_schema = TicketSchema()
# Lists leave the comments out (a ticket holds up to MAX_COMMENTS); read the ticket for them.
list_item_schema = TicketSchema(exclude=("comments",))
update_schema = TicketUpdateSchema()
comment_schema = CommentSchema()
assign_schema = AssignSchema()
action_schema = TicketActionSchema()
list_query_schema = TicketListQuerySchema()
SORT_FIELDS = {"number": "seq", "priority": "priority_rank"}
# The two moves anyone allowed on the ticket may make (SPEC §8): resolve and reopen.
ACTION_SOURCES = {"resolved": sources_of("resolved"), "open": ["closed", "resolved"]}
STAFF_ONLY_MESSAGE = "Customer users may only comment on, resolve or reopen their tickets"


def _repository():
    return TicketRepository(get_db())


def _caller_oid():
    return to_object_id(current_principal().user_id)


def _staff_only():
    if not current_principal().is_staff:
        raise Forbidden(STAFF_ONLY_MESSAGE)


def _visible_ticket(ticket_id):
    """The ticket if the caller may know it exists; a customer user's view stops at its own tickets."""
    ticket = _repository().get(ticket_id)
    principal = current_principal()
    if ticket is None or (principal.is_customer and str(ticket["customer_id"]) != principal.customer_id):
        raise NotFound("Ticket not found")
    return ticket


def _answer(ticket, status=200, location=None):
    """The ticket as the caller may see it: customer users never see internal comments."""
    shown = ticket
    if current_principal().is_customer:
        shown = {**ticket, "comments": [item for item in ticket.get("comments", []) if not item.get("internal")]}
    return record_with_etag(ticket_schema.dump(shown), ticket, status, location)


def _active_staff(user_id):
    """The ObjectId of an active staff user (None stays None, meaning unassigned); anyone else is 422."""
    if user_id is None:
        return None
    if not UserRepository(get_db()).is_active_staff(user_id):
        raise invalid({"assignee_id": ["Not an active staff user."]})
    return to_object_id(user_id)


def _illegal(source, target):
    return invalid({"status": [f"A ticket cannot move from {source} to {target}."]})


def _record_event(ticket, event, at):
    """One `note` in the customer's history for a raised or resolved ticket (the only place it is listed)."""
    principal = current_principal()
    InteractionRepository(get_db(), current_app.config["INTERACTION_EMBED_LIMIT"]).add(ticket["customer_id"], {
        "type": "note",
        "subject": f"Ticket {ticket['number']} {event}",
        "notes": ticket["subject"],
        "status": "completed",
        "ticket_id": ticket["_id"],
        "employee_id": _caller_oid() if principal.is_staff else None,
        "follow_up_required": False,
        "occurred_at": at,
    })


@bp.get("")
@require("crm:read:tickets")
@operation("List and filter tickets", tags=["tickets"], query=TicketListQuerySchema, response=TicketSchema,
           paged=True,
           description="Items leave out `comments` (read the ticket for them). `q` is a ticket number (`T-000042`, "
                       "`T-42` or `42`) or the start of words of the subject (every word must match). Customer "
                       "users see only their own tickets; a `customer_id` they pass is ignored. Sort by "
                       "`priority` orders low < normal < high < urgent; `number` in numbering order.")
def list_tickets():
    query = load_query(list_query_schema)
    principal = current_principal()
    # A customer user with no linked record (never expected) matches nothing rather than everything.
    only_customer = (to_object_id(principal.customer_id) or ObjectId()) if principal.is_customer else None
    page = _repository().list(query, sort_of(query, list_query_schema, SORT_FIELDS), page_request(query),
                              only_customer)
    return page_response(page, list_item_schema)


@bp.post("")
@require("crm:create:tickets")
@operation("Raise a ticket (status open, priority normal by default)", tags=["tickets"], body=TicketSchema,
           response=TicketSchema, status=201,
           description="Staff name the `customer_id` (an unknown one is 422) and may set `assignee_id`. A customer "
                       "user's ticket always lands on its own record; a `customer_id` it sends is ignored. The "
                       "ticket appears in the customer's interaction history as a `note` with its `ticket_id`.")
def create_ticket():
    principal = current_principal()
    body = json_body()
    if principal.is_customer:
        body.pop("customer_id", None)
    data = ticket_schema.load(body)
    if principal.is_customer:
        if "assignee_id" in data:
            raise invalid({"assignee_id": ["Unknown field."]})
        data["customer_id"] = principal.customer_id
    elif not data.get("customer_id"):
        raise invalid({"customer_id": ["Missing data for required field."]})
    if not CustomerRepository(get_db()).exists(data["customer_id"]):
        raise invalid({"customer_id": ["No customer with this id."]})
    data["customer_id"] = to_object_id(data["customer_id"])
    data["assignee_id"] = _active_staff(data.get("assignee_id"))
    ticket = _repository().create(data, _caller_oid())
    audit.record("create", "tickets", ticket["_id"], after=ticket)
    _record_event(ticket, "raised", ticket["created_at"])
    return _answer(ticket, 201, url_for("tickets.get_ticket", ticket_id=str(ticket["_id"])))


@bp.get("/<ticket_id>")
@require("crm:read:tickets")
@operation("Read a ticket (customer users: their own, without internal comments)", tags=["tickets"],
           response=TicketSchema)
def get_ticket(ticket_id):
    return _answer(_visible_ticket(ticket_id))


@bp.patch("/<ticket_id>")
@require("crm:update:tickets")
@operation("Change a ticket (staff)", tags=["tickets"], body=TicketUpdateSchema, body_partial=True,
           response=TicketSchema, errors=(412,),
           description="`status` follows the flow open→in_progress, open→resolved, in_progress→resolved, "
                       "in_progress→open, resolved→closed, resolved→open, closed→open; any other change is 422 "
                       "and changes nothing (the current status is a no-op). `assignee_id` must be an active "
                       "staff user, or null. Customer users get 403: they use comments, resolve and reopen.")
def update_ticket(ticket_id):
    _staff_only()
    changes = load_body(update_schema, partial=True)
    current = _visible_ticket(ticket_id)
    check_if_match(current)
    if changes.get("status") == current["status"]:
        del changes["status"]
    elif "status" in changes and (current["status"], changes["status"]) not in TRANSITIONS:
        raise _illegal(current["status"], changes["status"])
    if "assignee_id" in changes:
        changes["assignee_id"] = _active_staff(changes["assignee_id"])
    updated = _repository().update(current, changes, _caller_oid()) if changes else current
    if updated is None:
        # Someone changed the ticket between our read and write (perhaps its status): nothing was applied.
        check_if_match(current, force=True)
    if changes:
        audit.record("update", "tickets", current["_id"], before=current, after=updated)
    if changes.get("status") == "resolved":
        _record_event(updated, "resolved", updated["resolved_at"])
    return _answer(updated)


@bp.delete("/<ticket_id>")
@require("crm:delete:tickets")
@operation("Delete a ticket", tags=["tickets"], status=204, errors=(412,))
def delete_ticket(ticket_id):
    current = _visible_ticket(ticket_id)
    check_if_match(current)
    repository = _repository()
    if not repository.delete(current):
        if repository.get(current["_id"]) is None:
            raise NotFound("Ticket not found")
        check_if_match(current, force=True)
    TombstoneRepository(get_db()).record("tickets", current["_id"], current["customer_id"])
    audit.record("delete", "tickets", current["_id"], before=current)
    return no_content()


def _move(ticket_id, target):
    """Resolve or reopen, atomically: the write only lands while the status is still a legal source."""
    load_body(action_schema)
    current = _visible_ticket(ticket_id)
    sources = ACTION_SOURCES[target]
    if current["status"] not in sources:
        raise _illegal(current["status"], target)
    repository = _repository()
    updated = repository.transition(current["_id"], target, sources, _caller_oid())
    if updated is None:
        latest = repository.get(current["_id"])
        if latest is None:
            raise NotFound("Ticket not found")
        raise _illegal(latest["status"], target)
    audit.record("resolve" if target == "resolved" else "reopen", "tickets", current["_id"], before=current,
                 after=updated)
    if target == "resolved":
        _record_event(updated, "resolved", updated["resolved_at"])
    return _answer(updated)


@bp.post("/<ticket_id>/resolve")
@require("crm:update:tickets")
@operation("Mark a ticket resolved (from open or in_progress)", tags=["tickets"], body=TicketActionSchema,
           response=TicketSchema,
           description="Anyone allowed on the ticket, customer users on their own. Sets `resolved_at` and "
                       "`resolved_by` and adds a `note` to the customer's history. From another status: 422.")
def resolve_ticket(ticket_id):
    return _move(ticket_id, "resolved")


@bp.post("/<ticket_id>/reopen")
@require("crm:update:tickets")
@operation("Reopen a resolved or closed ticket", tags=["tickets"], body=TicketActionSchema, response=TicketSchema,
           description="Anyone allowed on the ticket, customer users on their own. Clears `resolved_at` and "
                       "`resolved_by`. From another status: 422.")
def reopen_ticket(ticket_id):
    return _move(ticket_id, "open")


@bp.post("/<ticket_id>/comments")
@require("crm:update:tickets")
@operation("Comment on a ticket; answers the ticket", tags=["tickets"], body=CommentSchema, response=TicketSchema,
           status=201,
           description="Answers 201 with the whole ticket (as the caller may see it) and its `Location`. "
                       f"`internal: true` is a staff-only note: customer users may not write one (403) and "
                       f"never see one. A ticket holds at most {MAX_COMMENTS} comments (then 422).")
def add_comment(ticket_id):
    current = _visible_ticket(ticket_id)  # first: another customer's ticket is 404 whatever the body
    data = load_body(comment_schema)
    if data["internal"] and current_principal().is_customer:
        raise Forbidden("Only staff may write internal comments")
    repository = _repository()
    updated = repository.add_comment(current["_id"], _caller_oid(), data["body"], data["internal"])
    if updated is None:
        if repository.get(current["_id"]) is None:
            raise NotFound("Ticket not found")
        raise invalid({"body": [f"A ticket holds at most {MAX_COMMENTS} comments."]})
    # The returned document is the one this $push produced: its last comment is the new one.
    audit.record("comment", "tickets", current["_id"], after=updated,
                 changes={"comment": (None, updated["comments"][-1])})
    return _answer(updated, 201, url_for("tickets.get_ticket", ticket_id=str(current["_id"])))


@bp.post("/<ticket_id>/assign")
@require("crm:update:tickets")
@operation("Assign a ticket to a staff user, or unassign it with null (staff)", tags=["tickets"], body=AssignSchema,
           response=TicketSchema)
def assign_ticket(ticket_id):
    _staff_only()
    data = load_body(assign_schema)
    current = _visible_ticket(ticket_id)
    updated = _repository().assign(current["_id"], _active_staff(data["assignee_id"]))
    if updated is None:
        raise NotFound("Ticket not found")
    audit.record("assign", "tickets", current["_id"], before=current, after=updated)
    return _answer(updated)

