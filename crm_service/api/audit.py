"""The audit log of every write (SPEC §7), admin only."""
from flask import Blueprint

from crm_service.auth.decorators import require
from crm_service.db import get_db
from crm_service.errors import NotFound
from crm_service.repositories.audit import AuditRepository
from crm_service.schemas.audit import AuditEntrySchema, AuditListQuerySchema
from crm_service.services import audit

from .docs import operation
from .etags import record_with_etag
from .helpers import load_query, page_request, page_response, sort_of

bp = Blueprint("audit", __name__, url_prefix="/api/v1/audit")

entry_schema = AuditEntrySchema()
list_query_schema = AuditListQuerySchema()


@bp.get("")
@require("crm:read:audit")
@operation("The audit log: who changed what, when, from what to what (admin)", tags=["audit"],
           query=AuditListQuerySchema, response=AuditEntrySchema, paged=True,
           description="Newest first (`sort=-at`, the default; `sort=at` for oldest first), ties broken by id. "
                       "`from` (inclusive) and `to` (exclusive) bound `at`. Entries are append-only; a privacy "
                       "erasure keeps them but replaces the person's values with \"[erased]\". Secrets "
                       "(passwords, hashes, tokens) never appear: a changed password shows as \"[redacted]\".")
def list_audit():
    query = load_query(list_query_schema)
    audit.settle(get_db())
    page = AuditRepository(get_db()).list(query, sort_of(query, list_query_schema), page_request(query))
    return page_response(page, entry_schema)


@bp.get("/<entry_id>")
@require("crm:read:audit")
@operation("Read one audit entry (admin)", tags=["audit"], response=AuditEntrySchema)
def get_audit_entry(entry_id):
    audit.settle(get_db())
    entry = AuditRepository(get_db()).get(entry_id)
    if entry is None:
        raise NotFound("Audit entry not found")
    return record_with_etag(entry_schema.dump(entry), entry)
