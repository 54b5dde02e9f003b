"""Configuration read from the environment only (and `.env`), checked at start-up."""
import os
from datetime import timedelta


class ConfigError(RuntimeError):
    """The environment does not describe a service that can start."""


def _env(name, default=None):
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def _int(name, default):
    raw = _env(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def _bool(name, default):
    raw = _env(name)
    if raw is None:
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


class Config:
    """Settings shared by every environment; subclasses change the defaults."""

    ENV_NAME = "base"

    def __init__(self):
        self.TESTING = False
        self.MONGO_URI = _env("MONGO_URI")
        self.MONGO_DB_NAME = _env("MONGO_DB_NAME", "crm")
        self.MONGO_SERVER_SELECTION_TIMEOUT_MS = _int("MONGO_SERVER_SELECTION_TIMEOUT_MS", 3000)
        self.MONGO_CONNECT_TIMEOUT_MS = _int("MONGO_CONNECT_TIMEOUT_MS", 3000)
        self.MONGO_SOCKET_TIMEOUT_MS = _int("MONGO_SOCKET_TIMEOUT_MS", 10000)
        self.MONGO_MAX_POOL_SIZE = _int("MONGO_MAX_POOL_SIZE", 50)
        self.JWT_SECRET_KEY = _env("JWT_SECRET_KEY")
        self.JWT_ALGORITHM = "HS256"
        self.JWT_DECODE_ALGORITHMS = ["HS256"]
        self.JWT_TOKEN_LOCATION = ["headers"]
        self.JWT_ACCESS_TOKEN_EXPIRES = timedelta(seconds=_int("JWT_ACCESS_TOKEN_EXPIRES_SECONDS", 900))
        self.JWT_REFRESH_TOKEN_EXPIRES = timedelta(
            seconds=_int("JWT_REFRESH_TOKEN_EXPIRES_SECONDS", 30 * 24 * 3600)
        )
        self.BCRYPT_ROUNDS = _int("BCRYPT_ROUNDS", 12)
        self.DEFAULT_PHONE_REGION = _env("DEFAULT_PHONE_REGION", "MA")
        self.DEFAULT_LANGUAGE = _env("DEFAULT_LANGUAGE", "fr")
        self.BASE_CURRENCY = _env("BASE_CURRENCY", "MAD")
        self.INTERACTION_EMBED_LIMIT = _int("INTERACTION_EMBED_LIMIT", 500)
        self.MAX_CONTENT_LENGTH = _int("MAX_CONTENT_LENGTH", 1024 * 1024)
        self.LOGIN_MAX_FAILURES = _int("LOGIN_MAX_FAILURES", 5)
        self.LOGIN_FAILURE_WINDOW_SECONDS = _int("LOGIN_FAILURE_WINDOW_SECONDS", 15 * 60)
        self.LOG_LEVEL = _env("LOG_LEVEL", "INFO")
        self.CRM_BOOTSTRAP_ADMIN_EMAIL = _env("CRM_BOOTSTRAP_ADMIN_EMAIL")
        self.CRM_BOOTSTRAP_ADMIN_PASSWORD = _env("CRM_BOOTSTRAP_ADMIN_PASSWORD")
        self.CRM_BOOTSTRAP_ADMIN_USERNAME = _env("CRM_BOOTSTRAP_ADMIN_USERNAME", "admin")
        self.ENSURE_INDEXES_ON_START = _bool("ENSURE_INDEXES_ON_START", False)
        self.JSON_SORT_KEYS = False
        # The address clients reach this service at (tracking pixels, reset links); None = the request's host.
        self.PUBLIC_BASE_URL = _env("PUBLIC_BASE_URL")
        # E-mail (SPEC §6). With no SMTP_HOST, sending is recorded as failed with that reason.
        self.SMTP_HOST = _env("SMTP_HOST")
        self.SMTP_PORT = _int("SMTP_PORT", 25)
        self.SMTP_USERNAME = _env("SMTP_USERNAME")
        self.SMTP_PASSWORD = _env("SMTP_PASSWORD")
        self.SMTP_STARTTLS = _bool("SMTP_STARTTLS", False)
        self.SMTP_SSL = _bool("SMTP_SSL", False)
        self.SMTP_FROM = _env("SMTP_FROM", "crm@localhost")
        self.SMTP_TIMEOUT_SECONDS = _int("SMTP_TIMEOUT_SECONDS", 10)
        self.PASSWORD_RESET_EXPIRES_SECONDS = _int("PASSWORD_RESET_EXPIRES_SECONDS", 30 * 60)
        # Where the reset link in the e-mail points; `{token}` is replaced. None = the API's confirm endpoint.
        self.PASSWORD_RESET_URL = _env("PASSWORD_RESET_URL")
        # Rate limits (SPEC §8), in the `limits` notation ("20/minute").
        self.RATE_LIMITS_ENABLED = _bool("RATE_LIMITS_ENABLED", True)
        self.RATE_LIMIT_DEFAULT = _env("RATE_LIMIT_DEFAULT", "600/minute")
        self.RATE_LIMIT_CUSTOMER_CREATE = _env("RATE_LIMIT_CUSTOMER_CREATE", "20/minute")
        self.RATE_LIMIT_INTERACTION_CREATE = _env("RATE_LIMIT_INTERACTION_CREATE", "100/minute")
        self.RATE_LIMIT_FEEDBACK_CREATE = _env("RATE_LIMIT_FEEDBACK_CREATE", "10/minute")
        self.RATE_LIMIT_REGISTER = _env("RATE_LIMIT_REGISTER", "20/hour")
        self.RATE_LIMIT_LOGIN_IP = _env("RATE_LIMIT_LOGIN_IP", "60/minute")
        # How many proxies in front of the service set X-Forwarded-For (0: use the socket's address).
        self.TRUSTED_PROXY_COUNT = _int("TRUSTED_PROXY_COUNT", 0)
        # CORS: comma-separated origins allowed to call the API from a browser (empty: none).
        self.CORS_ORIGINS = [o.strip() for o in (_env("CORS_ORIGINS", "") or "").split(",") if o.strip()]
        self.IDEMPOTENCY_TTL_SECONDS = _int("IDEMPOTENCY_TTL_SECONDS", 24 * 3600)
        # How often a worker moves the audit entries its hot writes stored with their records (0: only when
        # the log is read); see services/audit.py.
        self.AUDIT_OUTBOX_SECONDS = _int("AUDIT_OUTBOX_SECONDS", 1)

    def validate(self):
        """Refuse to start with settings that cannot work; called by create_app."""
        if self.AUDIT_OUTBOX_SECONDS < 0:
            raise ConfigError("AUDIT_OUTBOX_SECONDS must be 0 or more")
        if self.INTERACTION_EMBED_LIMIT < 1:
            raise ConfigError("INTERACTION_EMBED_LIMIT must be at least 1")
        if not 4 <= self.BCRYPT_ROUNDS <= 31:
            raise ConfigError("BCRYPT_ROUNDS must be between 4 and 31")
        if not self.JWT_SECRET_KEY:
            raise ConfigError("JWT_SECRET_KEY is not set")
        if len(self.JWT_SECRET_KEY.encode()) < 32:
            raise ConfigError("JWT_SECRET_KEY must be at least 32 bytes")

    def as_dict(self):
        return {key: value for key, value in vars(self).items() if key.isupper()}


class DevelopmentConfig(Config):
    """Local work: `make run` sets MONGO_URI to the embedded server it starts."""

    ENV_NAME = "development"

    def __init__(self):
        super().__init__()
        self.MONGO_URI = self.MONGO_URI or "mongodb://127.0.0.1:27017/?retryWrites=false"


class TestConfig(Config):
    """Fast tests: mongomock, bcrypt cost 4, a fixed secret that only tests use."""

    ENV_NAME = "test"
    __test__ = False  # not a pytest test class

    def __init__(self):
        super().__init__()
        self.TESTING = True
        self.MONGO_URI = self.MONGO_URI or "mongodb://test.invalid:27017"
        self.MONGO_DB_NAME = "crm_test"
        self.JWT_SECRET_KEY = "test-only-secret-key-that-is-32-bytes-long!"
        self.BCRYPT_ROUNDS = 4
        # mongomock is not thread-safe: tests move outbox entries by reading the log (or call move_now()).
        self.AUDIT_OUTBOX_SECONDS = 0
        # Uniqueness lives in the indexes, so tests create them too (about 2 ms on mongomock).
        self.ENSURE_INDEXES_ON_START = True
        self.CRM_BOOTSTRAP_ADMIN_EMAIL = None
        self.CRM_BOOTSTRAP_ADMIN_PASSWORD = None
        # Most tests make many writes a minute; the rate-limit tests switch this on.
        self.RATE_LIMITS_ENABLED = False
        self.SMTP_HOST = None


class ProductionConfig(Config):
    """Production: everything must come from the environment; nothing is defaulted."""

    ENV_NAME = "production"

    def validate(self):
        super().validate()
        if not self.MONGO_URI:
            raise ConfigError("MONGO_URI is not set")


CONFIGS = {
    "development": DevelopmentConfig,
    "test": TestConfig,
    "production": ProductionConfig,
}


def load_config(name=None):
    """Build the config named by CRM_ENV (default production: safe by default)."""
    name = name or _env("CRM_ENV", "production")
    try:
        return CONFIGS[name]()
    except KeyError as exc:
        raise ConfigError(f"CRM_ENV must be one of {sorted(CONFIGS)}, got {name!r}") from exc
