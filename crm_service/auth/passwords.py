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
    usable = isinstance(password_hash, str) and password_hash.startswith("$2")
    try:
        matches = bcrypt.checkpw(encoded[:MAX_BYTES], (password_hash if usable else _dummy_hash()).encode())
    except ValueError:  # a damaged hash in the database: no password can match it
        bcrypt.checkpw(encoded[:MAX_BYTES], _dummy_hash().encode())
        matches = False
    return matches and usable and len(encoded) <= MAX_BYTES
