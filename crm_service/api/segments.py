"""Segments: named customer rule sets, their live members, counts and previews."""
from contextlib import contextmanager

from flask import Blueprint, jsonify, url_for
from pymongo.errors import DuplicateKeyError

from crm_service.auth.decorators import require
from crm_service.db import get_db
from crm_service.errors import Conflict, NotFound, invalid
from crm_service.repositories.companies import CompanyRepository
from crm_service.repositories.segments import SegmentRepository
from crm_service.schemas.customers import CustomerSchema
from crm_service.schemas.segments import (
    SegmentListQuerySchema,
    SegmentMembersQuerySchema,
    SegmentPreviewResultSchema,
    SegmentPreviewSchema,
    SegmentSchema,
    SegmentUpdateSchema,
)
from crm_service.services import audit

from .customers import SORT_FIELDS as CUSTOMER_SORT_FIELDS
from .docs import operation
from .etags import check_if_match, delete_versioned, record_with_etag
from .helpers import load_body, load_query, page_request, page_response, sort_of

bp = Blueprint("segments", __name__, url_prefix="/api/v1/segments")

segment_schema = SegmentSchema()
update_schema = SegmentUpdateSchema()
preview_schema = SegmentPreviewSchema()
list_query_schema = SegmentListQuerySchema()
members_query_schema = SegmentMembersQuerySchema()
customer_schema = CustomerSchema()
SORT_FIELDS = {"name": "name_key"}


@contextmanager
def _unique_name():
    """Segment names are unique case-insensitively (a unique index on name_key); a clash is 409 on `name`."""
    try:
        yield
    except DuplicateKeyError as exc:
        raise Conflict("A segment with this name already exists", {"name": ["This value is already in use."]}) \
            from exc


def _check_company(criteria):
    """A company_id rule must name an existing company (422 on criteria.company_id)."""
    if criteria and criteria.get("company_id") and not CompanyRepository(get_db()).exists(criteria["company_id"]):
        raise invalid({"criteria": {"company_id": ["No company with this id."]}})


def _segment(segment_id):
    segment = SegmentRepository(get_db()).get(segment_id)
    if segment is None:
        raise NotFound("Segment not found")
    return segment


@bp.get("")
@require("crm:read:segments")
@operation("List segments", tags=["segments"], query=SegmentListQuerySchema, response=SegmentSchema, paged=True)
def list_segments():
    query = load_query(list_query_schema)
    page = SegmentRepository(get_db()).list(query, sort_of(query, list_query_schema, SORT_FIELDS), page_request(query))
    return page_response(page, segment_schema)


@bp.post("")
@require("crm:create:segments")
@operation("Create a segment; customer_count is computed now", tags=["segments"], body=SegmentSchema,
           response=SegmentSchema, status=201, errors=(409,))
def create_segment():
    data = load_body(segment_schema)
    _check_company(data["criteria"])
    with _unique_name():
        segment = SegmentRepository(get_db()).create(data)
    audit.record("create", "segments", segment["_id"], after=segment)
    location = url_for("segments.get_segment", segment_id=str(segment["_id"]))
    return record_with_etag(segment_schema.dump(segment), segment, 201, location)


@bp.post("/preview")
@require("crm:read:segments")
@operation("Count the customers some criteria select, without saving a segment", tags=["segments"],
           body=SegmentPreviewSchema, response=SegmentPreviewResultSchema)
def preview_segment():
    data = load_body(preview_schema)
    _check_company(data["criteria"])
    return jsonify({"customer_count": SegmentRepository(get_db()).count_members(data["criteria"])})


@bp.get("/<segment_id>")
@require("crm:read:segments")
@operation("Read a segment", tags=["segments"], response=SegmentSchema)
def get_segment(segment_id):
    segment = _segment(segment_id)
    return record_with_etag(segment_schema.dump(segment), segment)


@bp.patch("/<segment_id>")
@require("crm:update:segments")
@operation("Change a segment (criteria replace the old rules); customer_count is recomputed", tags=["segments"],
           body=SegmentUpdateSchema, body_partial=True, response=SegmentSchema, errors=(409, 412))
def update_segment(segment_id):
    changes = load_body(update_schema, partial=True)
    current = _segment(segment_id)
    check_if_match(current)
    _check_company(changes.get("criteria"))
    with _unique_name():
        updated = SegmentRepository(get_db()).update(current, changes)
    if updated is None:
        check_if_match(current, force=True)
    audit.record("update", "segments", current["_id"], before=current, after=updated)
    return record_with_etag(segment_schema.dump(updated), updated)


@bp.delete("/<segment_id>")
@require("crm:delete:segments")
@operation("Delete a segment (admin)", tags=["segments"], status=204, errors=(412,))
def delete_segment(segment_id):
    current = _segment(segment_id)
    check_if_match(current)
    return delete_versioned("segments", current, SegmentRepository(get_db()).delete)


@bp.post("/<segment_id>/recalculate")
@require("crm:update:segments")
@operation("Recount the segment's members now", tags=["segments"], response=SegmentSchema)
def recalculate_segment(segment_id):
    current = _segment(segment_id)
    segment = SegmentRepository(get_db()).recalculate(current)
    if segment is None:
        raise NotFound("Segment not found")
    audit.record("recalculate", "segments", current["_id"], before=current, after=segment)
    return record_with_etag(segment_schema.dump(segment), segment)


@bp.get("/<segment_id>/customers")
@require("crm:read:segments", "crm:read:customers")
@operation("The segment's members, computed live", tags=["segments"], query=SegmentMembersQuerySchema,
           response=CustomerSchema, paged=True)
def list_segment_customers(segment_id):
    query = load_query(members_query_schema)
    segment = _segment(segment_id)
    sort = sort_of(query, members_query_schema, CUSTOMER_SORT_FIELDS)
    page = SegmentRepository(get_db()).members(segment.get("criteria") or {}, sort, page_request(query),
                                               query.get("updated_since"))
    return page_response(page, customer_schema)
