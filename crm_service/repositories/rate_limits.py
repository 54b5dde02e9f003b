"""Rate-limit counters shared by every worker: one document per subject and time window."""
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError


class RateLimitRepository:
    """A window is `{_id: "<subject>|<period>|<window number>", <counter>: n, ..., expires_at}`.

    Every limit of one subject with the same period shares the window's document, so one
    request costs one round trip per (subject, period); documents expire with their window
    (TTL index).
    """

    def __init__(self, db):
        self.collection = db.rate_limits

    def hit(self, window_id, counters, expires_at):
        """Add one to each of `counters` in the window (created on first use); their counts after."""
        update = {"$inc": dict.fromkeys(counters, 1), "$setOnInsert": {"expires_at": expires_at}}
        try:
            document = self._increment(window_id, update)
        except DuplicateKeyError:
            # Two first hits of a window raced on the upsert; the document exists now.
            document = self._increment(window_id, update)
        return {name: document.get(name, 0) for name in counters}

    def _increment(self, window_id, update):
        return self.collection.find_one_and_update(
            {"_id": window_id}, update, upsert=True, return_document=ReturnDocument.AFTER,
        )

    def counts(self, window_ids):
        """{window id: document} for the windows that exist, in one query; nothing is counted."""
        return {document["_id"]: document for document in self.collection.find({"_id": {"$in": list(window_ids)}})}
