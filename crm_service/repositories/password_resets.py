"""Password-reset tokens: only their SHA-256 is stored; each works once and expires (TTL index)."""
import hashlib

from pymongo import ReturnDocument

from .base import utcnow


def hash_token(token):
    """The stored form of a token. A plain hash suffices: tokens are 256 random bits, not passwords."""
    return hashlib.sha256(token.encode()).hexdigest()


class PasswordResetRepository:
    """A reset is `{token_hash, user_id, created_at, expires_at, used_at}`; the TTL index removes it at expires_at."""

    def __init__(self, db):
        self.collection = db.password_resets

    def create(self, user_id, token_hash, lifetime):
        now = utcnow()
        document = {
            "token_hash": token_hash,
            "user_id": user_id,
            "created_at": now,
            "expires_at": now + lifetime,
            "used_at": None,
        }
        document["_id"] = self.collection.insert_one(document).inserted_id
        return document

    def live_count(self, user_id):
        """Tokens of this user that could still be used."""
        return self.collection.count_documents({"user_id": user_id, "used_at": None, "expires_at": {"$gt": utcnow()}})

    def consume(self, token_hash):
        """Spend a live token in one atomic write and return it; None when it is unknown, used or expired.

        Two confirmations racing with the same token cannot both get it: only one write matches `used_at: None`.
        """
        now = utcnow()
        return self.collection.find_one_and_update(
            {"token_hash": token_hash, "used_at": None, "expires_at": {"$gt": now}},
            {"$set": {"used_at": now}},
            return_document=ReturnDocument.AFTER,
        )

    def void_user(self, user_id):
        """Spend every other live token of this user (after a reset, older links stop working)."""
        now = utcnow()
        self.collection.update_many({"user_id": user_id, "used_at": None}, {"$set": {"used_at": now, "voided": True}})
