"""Tombstones: ids deleted since a time, so offline clients can drop them."""
from .base import utcnow


class TombstoneRepository:
    def __init__(self, db):
        self.collection = db.tombstones

    def record(self, entity, entity_id, customer_id=None):
        self.collection.insert_one({
            "entity": entity, "entity_id": entity_id, "customer_id": customer_id, "deleted_at": utcnow(),
        })
