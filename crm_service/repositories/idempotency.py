"""Idempotency keys: one document per (user, method, path, key), claimed before the request runs."""
import uuid
from datetime import timedelta

from bson import Binary
from pymongo.errors import DuplicateKeyError

from .base import utcnow

PENDING = "pending"
DONE = "done"


class IdempotencyRepository:
    """A record is `{scope, owner, method, path, fingerprint, state, claim, lease_until, expires_at}`.

    `scope` (unique index) is a keyed hash of owner, method, path and key, so the key itself is not
    stored. `state` is `pending` while the first request runs (held by `claim`, a random token,
    until `lease_until`) and `done` once its answer (`status`, `body`, `headers`) is stored.
    Records disappear after `expires_at` (TTL index); code also treats a past `expires_at` as gone,
    since the TTL monitor runs only once a minute.
    """

    def __init__(self, db):
        self.collection = db.idempotency_keys

    def claim(self, scope, fields, ttl_seconds, lease_seconds):
        """Insert a pending record for `scope`: (claim token, None) if we got it, (None, existing record) if not.

        The existing record may be None too when it vanished between the insert and the read; try again then.
        """
        token = uuid.uuid4().hex
        try:
            self.collection.insert_one({"scope": scope, **fields, **self._pending(token, ttl_seconds, lease_seconds)})
        except DuplicateKeyError:
            return None, self.collection.find_one({"scope": scope})
        return token, None

    def take_over(self, record, fields, ttl_seconds, lease_seconds):
        """Claim a record that expired or whose first request died; the claim token makes one taker win."""
        token = uuid.uuid4().hex
        result = self.collection.update_one(
            {"_id": record["_id"], "claim": record["claim"]},
            {"$set": {**fields, **self._pending(token, ttl_seconds, lease_seconds)},
             "$unset": {"status": "", "body": "", "headers": ""}},
        )
        return token if result.modified_count == 1 else None

    def complete(self, scope, token, status, body, headers, ttl_seconds):
        """Store the answer of the request holding `token`; False when it no longer holds the claim."""
        now = utcnow()
        result = self.collection.update_one(
            {"scope": scope, "claim": token, "state": PENDING},
            {"$set": {"state": DONE, "status": status, "body": Binary(body), "headers": headers,
                      "completed_at": now, "expires_at": now + timedelta(seconds=ttl_seconds)},
             "$unset": {"lease_until": ""}},
        )
        return result.modified_count == 1

    def release(self, scope, token):
        """Forget a claim whose request did not end in a stored answer, so a retry runs it again."""
        self.collection.delete_one({"scope": scope, "claim": token, "state": PENDING})

    def find(self, scope):
        return self.collection.find_one({"scope": scope})

    @staticmethod
    def _pending(token, ttl_seconds, lease_seconds):
        now = utcnow()
        return {
            "state": PENDING,
            "claim": token,
            "created_at": now,
            "lease_until": now + timedelta(seconds=lease_seconds),
            "expires_at": now + timedelta(seconds=ttl_seconds),
        }
