"""Rate limits shared by every worker (SPEC §7, §8): fixed windows counted in MongoDB, RateLimit-* headers."""
import math
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app, g, request
from werkzeug.exceptions import HTTPException

from .config import ConfigError
from .db import get_db
from .errors import ApiError
from .repositories.rate_limits import RateLimitRepository

EXTENSION_KEY = "crm_rate_limiter"
API_PREFIX = "/api/v1/"
PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "month": 30 * 86400, "year": 365 * 86400}
# The `limits` notation: "20/minute", "100 per hour", "5/2 minutes"; several joined by ";" "," or "|".
RATE = re.compile(r"^\s*(\d+)\s*(?:/|\s+per\s+)\s*(\d+)?\s*(second|minute|hour|day|month|year)s?\s*$", re.IGNORECASE)
OBJECT_ID = re.compile(r"^[0-9a-fA-F]{24}$")

# Limits on top of RATE_LIMIT_DEFAULT, by (method, endpoint): (counter, setting, whose budget).
# "user" is the token's user, "customer" the customer record written to, "address" the client.
ENDPOINT_LIMITS = {
    ("POST", "customers.create_customer"): ("customer_create", "RATE_LIMIT_CUSTOMER_CREATE", "user"),
    # Interactions and meetings share one budget: a meeting is an interaction.
    ("POST", "interactions.add_interaction"): ("interaction_create", "RATE_LIMIT_INTERACTION_CREATE", "user"),
    ("POST", "interactions.schedule_meeting"): ("interaction_create", "RATE_LIMIT_INTERACTION_CREATE", "user"),
    ("POST", "feedback.create_feedback"): ("feedback_create", "RATE_LIMIT_FEEDBACK_CREATE", "customer"),
    ("POST", "auth.register"): ("register", "RATE_LIMIT_REGISTER", "address"),
    ("POST", "auth.login"): ("login_ip", "RATE_LIMIT_LOGIN_IP", "address"),
}

# The tracking pixel is fetched by mail clients' image proxies, many opens from few addresses: it is never
# counted or refused (a 429 would show a broken image); it only carries the address's current headers.
UNCOUNTED_ENDPOINTS = {"tracking.open_pixel"}


@dataclass(frozen=True)
class Rate:
    amount: int
    period: int  # seconds


@dataclass(frozen=True)
class Limit:
    counter: str
    subject: str
    rate: Rate


@dataclass(frozen=True)
class LimitState:
    limit: int
    remaining: int
    reset: int  # seconds until the window ends
    spent: bool  # no request may pass until the window ends

    def headers(self):
        return {"RateLimit-Limit": str(self.limit), "RateLimit-Remaining": str(self.remaining),
                "RateLimit-Reset": str(self.reset)}


def parse_rates(setting, text):
    """The rates a setting names; ConfigError (at start-up) for anything else."""
    rates = []
    for part in re.split(r"[;,|]", text or ""):
        match = RATE.match(part)
        if not match or int(match.group(1)) < 1 or (match.group(2) is not None and int(match.group(2)) < 1):
            raise ConfigError(f"{setting} must be in the limits notation like '20/minute', got {text!r}")
        multiple = int(match.group(2) or 1)
        rates.append(Rate(int(match.group(1)), multiple * PERIODS[match.group(3).lower()]))
    return tuple(rates)


class RateLimiter:
    """Counts each /api/v1 request against every limit that applies to it, before the view runs."""

    def __init__(self, config):
        self.enabled = config["RATE_LIMITS_ENABLED"]
        settings = {"RATE_LIMIT_DEFAULT"} | {setting for _, setting, _ in ENDPOINT_LIMITS.values()}
        self.rates = {setting: parse_rates(setting, config[setting]) for setting in sorted(settings)}
        self.clock = time.time  # tests move time by replacing this

    def limits_for(self, principal):
        """The limits this request counts against: per user (or client address), plus its endpoint's."""
        address = "ip:" + (request.remote_addr or "unknown")
        user = f"user:{principal.user_id}" if principal else None
        limits = self._limits("default", "RATE_LIMIT_DEFAULT", user or address)
        counter, setting, whose = ENDPOINT_LIMITS.get((request.method, request.endpoint), (None, None, None))
        subject = {"user": user, "address": address, "customer": principal and self._customer_of(principal)}.get(whose)
        if subject:
            limits += self._limits(counter, setting, subject)
        return limits

    def _limits(self, counter, setting, subject):
        rates = self.rates[setting]
        return [Limit(counter if len(rates) == 1 else f"{counter}_{n}", subject, rate) for n, rate in enumerate(rates)]

    @staticmethod
    def _customer_of(principal):
        """Feedback counts per customer record: a customer user's own, or the one staff name in the body."""
        if principal.is_customer:
            return f"customer:{principal.customer_id}" if principal.customer_id else f"user:{principal.user_id}"
        try:
            body = request.get_json(silent=True)
        except HTTPException:  # a body too large: the view answers 413; count it per user meanwhile
            body = None
        customer_id = body.get("customer_id") if isinstance(body, dict) else None
        if isinstance(customer_id, str) and OBJECT_ID.match(customer_id):
            return f"customer:{customer_id.lower()}"
        return f"user:{principal.user_id}"

    def check(self, principal):
        """Count this request; sets g.rate_limit (the tightest limit) and raises 429 when one is spent.

        A preflight (OPTIONS) is not counted: it only reads the counters for its headers; the pixel
        (UNCOUNTED_ENDPOINTS) only reads them and is never refused.
        """
        limits = self.limits_for(principal)
        now = self.clock()
        windows = {}
        for limit in limits:
            start = math.floor(now / limit.rate.period) * limit.rate.period
            window_id = f"{limit.subject}|{limit.rate.period}|{start // limit.rate.period}"
            windows.setdefault(window_id, (start + limit.rate.period, []))[1].append(limit)
        repository = RateLimitRepository(get_db())
        counting = request.method != "OPTIONS" and request.endpoint not in UNCOUNTED_ENDPOINTS
        stored = {} if counting else repository.counts(windows)
        states = []
        for window_id, (end, members) in windows.items():
            if counting:
                expires_at = datetime.fromtimestamp(end, UTC)
                counts = repository.hit(window_id, [limit.counter for limit in members], expires_at)
            else:
                counts = {limit.counter: (stored.get(window_id) or {}).get(limit.counter, 0) for limit in members}
            reset = max(1, math.ceil(end - now))
            for limit in members:
                count, amount = counts[limit.counter], limit.rate.amount
                # After counting, `count` includes this request; a peek must leave room for one more.
                spent = count >= amount
                over = count > amount if counting else spent
                states.append((LimitState(amount, max(0, amount - count), reset, spent), over))
        # The tightest limit: fewest requests left, then the longest wait.
        g.rate_limit = min((state for state, _ in states), key=lambda state: (state.remaining, -state.reset))
        if request.endpoint not in UNCOUNTED_ENDPOINTS and any(over for _, over in states):
            retry_after = max(state.reset for state, _ in states if state.spent)
            raise ApiError(429, "Too many requests; try again later", headers={"Retry-After": str(retry_after)})


def init_app(app):
    app.extensions[EXTENSION_KEY] = RateLimiter(app.config)


def check_request(principal):
    """The before_request step: count an /api/v1 request (the principal is None without a valid token)."""
    limiter = current_app.extensions[EXTENSION_KEY]
    if limiter.enabled and request.path.startswith(API_PREFIX):
        limiter.check(principal)


def add_headers(response):
    """RateLimit-* on every counted response, errors included."""
    state = g.get("rate_limit")
    if state is not None:
        response.headers.update(state.headers())
    return response
