"""Delta sync: tombstones of deleted records (SPEC §3)."""
from flask import Blueprint

from crm_service.auth.decorators import current_principal, require
from crm_service.db import get_db
from crm_service.repositories.tombstones import TombstoneRepository
from crm_service.schemas.sync import ENTITIES, DeletedQuerySchema, TombstoneSchema

from .docs import operation
from .helpers import load_query, page_request, page_response

bp = Blueprint("sync", __name__, url_prefix="/api/v1/sync")

query_schema = DeletedQuerySchema()
tombstone_schema = TombstoneSchema()


@bp.get("/deleted")
@require()
@operation("Records deleted since a time (tombstones), to keep an offline copy in step", tags=["sync"],
           query=DeletedQuerySchema, response=TombstoneSchema, paged=True,
           description="Soft deletes, hard deletes and erasures, oldest first, of the entities the caller may "
                       "read (`crm:read:<entity>`); customer users get only those of their own customer record. "
                       "`since` is inclusive (`deleted_at >= since`): sync from the last `deleted_at` received "
                       "and ignore repeats. Pull `updated_since` pages of each list as well and apply the "
                       "tombstones first: a record restored after its deletion comes back in its list.")
def list_deleted():
    query = load_query(query_schema)
    principal = current_principal()
    entities = [entity for entity in ENTITIES if f"crm:read:{entity}" in principal.permissions]
    if query.get("entity"):
        entities = [entity for entity in entities if entity == query["entity"]]
    page = TombstoneRepository(get_db()).deleted_since(
        query["since"], page_request(query), None if len(entities) == len(ENTITIES) else entities,
        customer_id=principal.customer_id, customer_only=principal.is_customer,
    )
    return page_response(page, tombstone_schema)
