"""Feedback: customers rate services; staff read, resolve and count it."""
from flask import Blueprint, jsonify, url_for

from crm_service.auth.decorators import current_principal, require
from crm_service.db import get_db
from crm_service.errors import Forbidden, NotFound, invalid
from crm_service.repositories.base import to_object_id
from crm_service.repositories.customers import CustomerRepository
from crm_service.repositories.feedback import FeedbackRepository
from crm_service.schemas.feedback import (
    FeedbackListQuerySchema,
    FeedbackResolveSchema,
    FeedbackSchema,
    FeedbackStatsQuerySchema,
    FeedbackStatsSchema,
)
from crm_service.services import audit
from crm_service.services.sentiment import analyse

from .docs import operation
from .etags import check_if_match, delete_versioned, record_with_etag
from .helpers import json_body, load_body, load_query, page_request, page_response, sort_of

bp = Blueprint("feedback", __name__, url_prefix="/api/v1/feedback")

feedback_schema = FeedbackSchema()
resolve_schema = FeedbackResolveSchema()
list_query_schema = FeedbackListQuerySchema()
stats_query_schema = FeedbackStatsQuerySchema()
stats_schema = FeedbackStatsSchema()
NO_CUSTOMER = "0" * 24


def _is_author(principal, feedback):
    return principal.is_customer and str(feedback.get("customer_id")) == principal.customer_id


def _masked(feedback):
    """Anonymous feedback names its customer only to admins and to its author (SPEC §5, §8)."""
    principal = current_principal()
    if feedback.get("is_anonymous") and not principal.is_admin and not _is_author(principal, feedback):
        return {**feedback, "customer_id": None}
    return feedback


def _visible_feedback(feedback_id):
    """The feedback if the caller may know it exists: customer users only their own; otherwise 404."""
    feedback = FeedbackRepository(get_db()).get(feedback_id)
    principal = current_principal()
    if feedback is None or (principal.is_customer and not _is_author(principal, feedback)):
        raise NotFound("Feedback not found")
    return feedback


def _customer_of(body):
    """A customer user's feedback is always its own; staff name an existing customer."""
    principal = current_principal()
    if principal.is_customer:
        return principal.customer_id
    if not body.get("customer_id"):
        raise invalid({"customer_id": ["Missing data for required field."]})
    if not CustomerRepository(get_db()).exists(body["customer_id"]):
        raise invalid({"customer_id": ["No customer with this id."]})
    return body["customer_id"]


@bp.post("")
@require("crm:create:feedback")
@operation("Submit feedback; its sentiment is computed from the comment (or the rating when there is none)",
           tags=["feedback"], body=FeedbackSchema, response=FeedbackSchema, status=201,
           description="A customer user's feedback always lands on its own record (a customer_id it sends is "
                       "ignored); staff must give an existing customer_id.")
def create_feedback():
    body = json_body()
    if current_principal().is_customer:
        body.pop("customer_id", None)
    data = feedback_schema.load(body)
    data["customer_id"] = to_object_id(_customer_of(data))
    sentiment = analyse(data.get("comments"), data["rating"])
    feedback = FeedbackRepository(get_db()).create(data, sentiment)
    audit.record("create", "feedback", feedback["_id"], after=feedback)
    location = url_for("feedback.get_feedback", feedback_id=str(feedback["_id"]))
    return record_with_etag(feedback_schema.dump(_masked(feedback)), feedback, 201, location)


@bp.get("")
@require("crm:read:feedback")
@operation("List and filter feedback (customer users: their own)", tags=["feedback"], query=FeedbackListQuerySchema,
           response=FeedbackSchema, paged=True,
           description="`from`/`to` bound submitted_at. A customer_id filter from a non-admin never returns "
                       "anonymous feedback; a customer user's customer_id filter is ignored in favour of its own.")
def list_feedback():
    query = load_query(list_query_schema)
    principal = current_principal()
    own_customer = (principal.customer_id or NO_CUSTOMER) if principal.is_customer else None
    mongo_query = FeedbackRepository.build_query(query, own_customer, reveal_anonymous=principal.is_admin)
    page = FeedbackRepository(get_db()).list(mongo_query, sort_of(query, list_query_schema), page_request(query))
    page.items = [_masked(item) for item in page.items]
    return page_response(page, feedback_schema)


@bp.get("/stats")
@require("crm:read:feedback")
@operation("Feedback statistics over the last `days` days (staff)", tags=["feedback"],
           query=FeedbackStatsQuerySchema, response=FeedbackStatsSchema,
           description="Every figure covers feedback submitted in the window. rating_distribution, "
                       "by_service_type and sentiment_analysis list every key (0 when none); average_rating and "
                       "resolution_rate are null when there is no feedback.")
def feedback_stats():
    if not current_principal().is_staff:
        raise Forbidden("Feedback statistics are for staff")
    query = load_query(stats_query_schema)
    return jsonify(stats_schema.dump(FeedbackRepository(get_db()).stats(query["days"])))


@bp.get("/<feedback_id>")
@require("crm:read:feedback")
@operation("Read one feedback", tags=["feedback"], response=FeedbackSchema)
def get_feedback(feedback_id):
    feedback = _visible_feedback(feedback_id)
    return record_with_etag(feedback_schema.dump(_masked(feedback)), feedback)


@bp.route("/<feedback_id>", methods=["PATCH", "PUT"])
@require("crm:update:feedback")
@operation("Resolve feedback (sets resolved_by and resolved_at); resolved=false reopens it", tags=["feedback"],
           body=FeedbackResolveSchema, response=FeedbackSchema, errors=(412,),
           description="`resolved` defaults to true: a body of only resolution_notes resolves the feedback.")
def resolve_feedback(feedback_id):
    changes = load_body(resolve_schema)
    current = _visible_feedback(feedback_id)
    check_if_match(current)
    updated = FeedbackRepository(get_db()).resolve(current, changes, current_principal().user_id)
    if updated is None:
        check_if_match(current, force=True)
    audit.record(_resolution_action(current, updated), "feedback", current["_id"], before=current, after=updated)
    return record_with_etag(feedback_schema.dump(_masked(updated)), updated)


def _resolution_action(before, after):
    """resolve / reopen when the resolved flag moves; update when only the notes changed."""
    if after.get("resolved") != before.get("resolved"):
        return "resolve" if after.get("resolved") else "reopen"
    return "update"


@bp.delete("/<feedback_id>")
@require("crm:delete:feedback")
@operation("Delete feedback (admin)", tags=["feedback"], status=204, errors=(412,))
def delete_feedback(feedback_id):
    current = _visible_feedback(feedback_id)
    check_if_match(current)
    return delete_versioned("feedback", current, FeedbackRepository(get_db()).delete, current["customer_id"])
