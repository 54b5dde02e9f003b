"""bcrypt hashing with a cost from config, and checks that take the same time for any outcome."""
import bcrypt
from flask import current_app

MIN_BYTES = 8
MAX_BYTES = 72  # bcrypt ignores everything past 72 bytes, so longer passwords are refused

_dummy_hashes = {}


def hash_password(password, rounds=None):
    rounds = rounds or current_app.config["BCRYPT_ROUNDS"]
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()


def _dummy_hash():
    rounds = current_app.config["BCRYPT_ROUNDS"]
    if rounds not in _dummy_hashes:
        _dummy_hashes[rounds] = hash_password("not-a-real-password", rounds)
    return _dummy_hashes[rounds]


def check_password(password, password_hash):
    """True when the password matches; runs one bcrypt check whatever the input.

    An unknown user (no hash) or an over-long password still costs one bcrypt round,
    so the time of a failed login says nothing about why it failed.
    """
    encoded = password.encode()
    matches = bcrypt.checkpw(encoded[:MAX_BYTES], (password_hash or _dummy_hash()).encode())
    return matches and password_hash is not None and len(encoded) <= MAX_BYTES
