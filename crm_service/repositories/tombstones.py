"""Tombstones: ids deleted since a time, so offline clients can drop them."""
from .base import find_page, to_object_id, utcnow

# Oldest first, so a client walks forward from its last sync and resumes with the cursor.
SORT = [("deleted_at", 1), ("_id", 1)]
NOTHING = {"_id": {"$exists": False}}


class TombstoneRepository:
    """A tombstone is `{entity, entity_id, customer_id, deleted_at}`; `customer_id` names the customer
    record the deleted one belonged to (None for records of no customer), for customer users' sync.
    """

    def __init__(self, db):
        self.collection = db.tombstones

    def record(self, entity, entity_id, customer_id=None):
        self.collection.insert_one({
            "entity": entity, "entity_id": entity_id, "customer_id": customer_id, "deleted_at": utcnow(),
        })

    def record_many(self, entity, entity_ids, customer_id=None):
        """One tombstone per id, all at one time (e.g. the feedback a privacy erasure deletes)."""
        now = utcnow()
        documents = [{"entity": entity, "entity_id": entity_id, "customer_id": customer_id, "deleted_at": now}
                     for entity_id in entity_ids]
        if documents:
            self.collection.insert_many(documents)

    def deleted_since(self, since, page_request, entities=None, customer_id=None, customer_only=False):
        """Tombstones with `deleted_at >= since`, oldest first.

        `entities` limits the entities (None: all); with `customer_only`, only those of `customer_id`.
        `>=` rather than `>`: a client that syncs from the last `deleted_at` it saw also gets anything
        deleted later in that same millisecond; applying a tombstone twice changes nothing.
        """
        owner = to_object_id(customer_id) if customer_only else None
        if entities == [] or (customer_only and owner is None):
            return find_page(self.collection, dict(NOTHING), SORT, page_request)
        query = {"customer_id": owner} if customer_only else {}
        query["deleted_at"] = {"$gte": since}
        if entities is not None:
            query["entity"] = entities[0] if len(entities) == 1 else {"$in": sorted(entities)}
        return find_page(self.collection, query, SORT, page_request)
