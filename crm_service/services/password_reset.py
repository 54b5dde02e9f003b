"""Password reset (SPEC §4): e-mail a single-use link; confirming it sets the password and ends every login.

The request is answered 202 with the same body at once, and everything that depends on whether the
address belongs to someone (the user lookup, the token, the SMTP conversation) runs afterwards on a
thread of its own. So neither the answer nor its timing says whether an account exists.
"""
import logging
import secrets
import threading
from datetime import timedelta
from urllib.parse import quote

from crm_service.auth.passwords import hash_password
from crm_service.db import get_db
from crm_service.errors import ApiError
from crm_service.repositories.login_failures import LoginFailureRepository
from crm_service.repositories.password_resets import PasswordResetRepository, hash_token
from crm_service.repositories.sessions import SessionRepository
from crm_service.repositories.users import UserRepository

from . import audit
from .mailer import MailError, compose, deliver

log = logging.getLogger("crm_service.password_reset")
CONFIRM_PATH = "/api/v1/auth/password-reset/confirm"
PENDING_KEY = "crm_password_reset_threads"
# Unused, unexpired links per user: more requests send nothing (no mailbox flooding).
MAX_LIVE_TOKENS = 3
# Reset threads a worker runs at once; past that, requests are dropped (logged) rather than queued.
MAX_PENDING = 32
INVALID_TOKEN = "The reset token is invalid, used or expired"


def _pending(app):
    return app.extensions.setdefault(PENDING_KEY, {"lock": threading.Lock(), "threads": set()})


def request_reset(app, email, request_id=None):
    """Start the reset for `email` in the background; returns at once whatever the address is."""
    pending = _pending(app)
    with pending["lock"]:
        if len(pending["threads"]) >= MAX_PENDING:
            log.warning("password reset dropped: too many pending (request %s)", request_id)
            return
        thread = threading.Thread(target=_run, args=(app, email, request_id), name="crm-password-reset")
        pending["threads"].add(thread)
    thread.start()


def wait_for_pending(app, timeout=10):
    """Join the reset threads started so far (tests, and a graceful stop)."""
    pending = _pending(app)
    with pending["lock"]:
        threads = list(pending["threads"])
    for thread in threads:
        thread.join(timeout)


def _run(app, email, request_id):
    try:
        with app.app_context():
            _send_reset(app.config, email)
    except Exception:  # a thread has nobody to raise to: log it (never the token)
        log.exception("password reset failed (request %s)", request_id)
    finally:
        pending = _pending(app)
        with pending["lock"]:
            pending["threads"].discard(threading.current_thread())


def _send_reset(config, email):
    db = get_db()
    user = UserRepository(db).find_for_login(email)
    if user is None or not user.get("is_active", True):
        return
    resets = PasswordResetRepository(db)
    if resets.live_count(user["_id"]) >= MAX_LIVE_TOKENS:
        log.info("password reset not sent: enough live links for this user")
        return
    token = secrets.token_urlsafe(32)
    lifetime = timedelta(seconds=config["PASSWORD_RESET_EXPIRES_SECONDS"])
    resets.create(user["_id"], hash_token(token), lifetime)
    text = reset_text(user, token, reset_link(config, token), lifetime)
    try:
        deliver(config, compose(config["SMTP_FROM"], user["email"], "Reset your CRM password", text))
    except MailError as exc:
        log.warning("password reset e-mail not sent: %s", exc.reason)


def reset_link(config, token):
    """PASSWORD_RESET_URL with `{token}` replaced, else the confirm endpoint under PUBLIC_BASE_URL, else None.

    Never the request's Host header: an attacker could name their own host and receive the token.
    """
    template = config.get("PASSWORD_RESET_URL")
    if template:
        if "{token}" in template:
            return template.replace("{token}", quote(token, safe=""))
        return f"{template}{'&' if '?' in template else '?'}token={quote(token, safe='')}"
    base = config.get("PUBLIC_BASE_URL")
    if base:
        return f"{base.rstrip('/')}{CONFIRM_PATH}?token={quote(token, safe='')}"
    return None


def reset_text(user, token, link, lifetime):
    minutes = int(lifetime.total_seconds() // 60)
    lines = [f"Someone asked to reset the password of the CRM account {user['username']}.", ""]
    if link:
        lines += ["To choose a new password, open this link:", link, ""]
    lines += [
        f"Or send this code with your new password to POST {CONFIRM_PATH}",
        '(body {"token": "<code>", "new_password": "<new password>"}):',
        token,
        "",
        f"The code works once and expires in {minutes} minutes. If you did not ask for this, ignore this "
        "e-mail: your password stays as it is.",
    ]
    return "\n".join(lines) + "\n"


def confirm_reset(token, new_password):
    """Spend the token, set the password, end every login of the user; 400 for a token that cannot be used."""
    db = get_db()
    resets = PasswordResetRepository(db)
    reset = resets.consume(hash_token(token))
    if reset is None:
        raise ApiError(400, INVALID_TOKEN)
    users = UserRepository(db)
    user = users.get(reset["user_id"])
    if user is None or not user.get("is_active", True):
        raise ApiError(400, INVALID_TOKEN)
    updated = users.update(user["_id"], {"password_hash": hash_password(new_password)})
    if updated is None:
        raise ApiError(400, INVALID_TOKEN)
    SessionRepository(db).revoke_user(user["_id"], "password reset")
    resets.void_user(user["_id"])
    audit.record("reset_password", "users", user["_id"], redact=("password",), actor=user, db=db)
    # The mailbox owner proved who they are: an earlier lock-out of the account ends too.
    LoginFailureRepository(db).clear(str(user["_id"]))
    return updated
