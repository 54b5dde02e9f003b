"""Opportunities: the sales pipeline, stage by stage (staff only)."""
from flask import Blueprint, current_app, url_for

from crm_service.auth.decorators import current_principal, require
from crm_service.db import get_db
from crm_service.errors import NotFound, invalid
from crm_service.repositories.base import to_object_id
from crm_service.repositories.customers import CustomerRepository
from crm_service.repositories.opportunities import OpportunityRepository
from crm_service.schemas.opportunities import OpportunityListQuerySchema, OpportunitySchema
from crm_service.services import audit

from .docs import operation
from .etags import check_if_match, delete_versioned, record_with_etag
from .helpers import load_body, load_query, page_request, page_response, sort_of, staff_reference

bp = Blueprint("opportunities", __name__, url_prefix="/api/v1/opportunities")

opportunity_schema = OpportunitySchema()
list_query_schema = OpportunityListQuerySchema()


def _visible(opportunity_id):
    opportunity = OpportunityRepository(get_db()).get(opportunity_id)
    if opportunity is None:
        raise NotFound("Opportunity not found")
    return opportunity


def _check_references(data, current=None):
    """customer_id must exist, owner_id must be an active staff user, lost_reason needs the lost stage (422)."""
    db = get_db()
    errors = {}
    if "customer_id" in data:
        if CustomerRepository(db).exists(data["customer_id"]):
            data["customer_id"] = to_object_id(data["customer_id"])
        else:
            errors["customer_id"] = ["No customer with this id."]
    if "owner_id" in data:
        staff_reference(data, "owner_id", errors)
    stage = data.get("stage", (current or {}).get("stage"))
    if data.get("lost_reason") is not None and stage != "lost":
        errors["lost_reason"] = ["Only a lost opportunity has a lost reason."]
    if errors:
        raise invalid(errors)
    return data


@bp.get("")
@require("crm:read:opportunities")
@operation("List opportunities", tags=["opportunities"], query=OpportunityListQuerySchema,
           response=OpportunitySchema, paged=True,
           description="`closing_after`/`closing_before` bound expected_close_date (a date means that day; "
                       "closing_before is exclusive). Opportunities without a close date match neither.")
def list_opportunities():
    query = load_query(list_query_schema)
    page = OpportunityRepository(get_db()).list(query, sort_of(query, list_query_schema), page_request(query))
    return page_response(page, opportunity_schema)


@bp.post("")
@require("crm:create:opportunities")
@operation("Create an opportunity", tags=["opportunities"], body=OpportunitySchema, response=OpportunitySchema,
           status=201,
           description="owner_id defaults to the caller, currency to BASE_CURRENCY, probability to the stage's. "
                       "Creating it as `won` turns a lead/prospect customer active.")
def create_opportunity():
    data = load_body(opportunity_schema)
    data.setdefault("owner_id", current_principal().user_id)
    _check_references(data)
    data.setdefault("currency", current_app.config["BASE_CURRENCY"])
    opportunity = OpportunityRepository(get_db()).create(data, current_principal().user_id)
    audit.record("create", "opportunities", opportunity["_id"], after=opportunity)
    location = url_for("opportunities.get_opportunity", opportunity_id=str(opportunity["_id"]))
    return record_with_etag(opportunity_schema.dump(opportunity), opportunity, 201, location)


@bp.get("/<opportunity_id>")
@require("crm:read:opportunities")
@operation("Read an opportunity", tags=["opportunities"], response=OpportunitySchema)
def get_opportunity(opportunity_id):
    opportunity = _visible(opportunity_id)
    return record_with_etag(opportunity_schema.dump(opportunity), opportunity)


@bp.patch("/<opportunity_id>")
@require("crm:update:opportunities")
@operation("Change an opportunity", tags=["opportunities"], body=OpportunitySchema, body_partial=True,
           response=OpportunitySchema, errors=(412,),
           description="A stage change is appended to stage_history, sets closed_at for won/lost (clears it when "
                       "reopened), clears lost_reason unless lost, and resets probability to the stage's default "
                       "unless one is given - all in one write. Moving to `won` turns a lead/prospect customer "
                       "active.")
def update_opportunity(opportunity_id):
    changes = load_body(opportunity_schema, partial=True)
    current = _visible(opportunity_id)
    check_if_match(current)
    _check_references(changes, current)
    if not changes:
        return record_with_etag(opportunity_schema.dump(current), current)
    updated = OpportunityRepository(get_db()).update(current, changes, current_principal().user_id)
    if updated is None:
        check_if_match(current, force=True)
    audit.record("update", "opportunities", current["_id"], before=current, after=updated)
    return record_with_etag(opportunity_schema.dump(updated), updated)


@bp.delete("/<opportunity_id>")
@require("crm:delete:opportunities")
@operation("Delete an opportunity", tags=["opportunities"], status=204, errors=(412,))
def delete_opportunity(opportunity_id):
    current = _visible(opportunity_id)
    check_if_match(current)
    return delete_versioned("opportunities", current, OpportunityRepository(get_db()).delete)
