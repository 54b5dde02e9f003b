"""Failed-login counters per account, shared by all workers through MongoDB."""
from datetime import timedelta

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from .base import utcnow

RECORD_ATTEMPTS = 3


class LoginFailureRepository:
    def __init__(self, db):
        self.collection = db.login_failures

    def blocked_for(self, key, max_failures):
        """Seconds left in the lock-out window for `key`, or 0 when logins are allowed."""
        document = self.collection.find_one({"_id": key})
        if not document or document["count"] < max_failures:
            return 0
        remaining = (document["expires_at"] - utcnow()).total_seconds()
        return max(0, int(remaining) + 1) if remaining > 0 else 0

    def record_failure(self, key, window_seconds):
        now = utcnow()
        for _ in range(RECORD_ATTEMPTS):
            document = self.collection.find_one_and_update(
                {"_id": key, "expires_at": {"$gt": now}},
                {"$inc": {"count": 1}},
                return_document=ReturnDocument.AFTER,
            )
            if document is not None:
                return
            try:
                # The window is over (or never started): start a new one, unless another worker just did;
                # then the filter misses, the upsert clashes on _id, and the next turn counts in that window.
                self.collection.replace_one(
                    {"_id": key, "expires_at": {"$lte": now}},
                    {"_id": key, "count": 1, "expires_at": now + timedelta(seconds=window_seconds)},
                    upsert=True,
                )
                return
            except DuplicateKeyError:
                continue

    def clear(self, key):
        self.collection.delete_one({"_id": key})
