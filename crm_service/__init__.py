"""The CRM service: create_app() builds the Flask application."""
import logging
import re
import time
import uuid

from flask import Flask, g, request

from . import db, ratelimit, security
from .auth.decorators import authenticate_request
from .config import Config, load_config
from .errors import ApiError, register_error_handlers
from .extensions import jwt
from .logs import configure_logging

__version__ = "0.1.0"

REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
BODY_METHODS = {"POST", "PUT", "PATCH"}
access_log = logging.getLogger("crm_service.access")


def create_app(config=None, mongo_client=None):
    """Build the app; `config` is a Config instance or a name, `mongo_client` for tests."""
    if not isinstance(config, Config):
        config = load_config(config)
    config.validate()
    app = Flask(__name__)
    app.config.update(config.as_dict())
    app.config["CRM_ENV"] = config.ENV_NAME
    app.json.sort_keys = False
    configure_logging(app.config["LOG_LEVEL"])

    db.init_app(app, mongo_client)
    jwt.init_app(app)
    register_error_handlers(app)
    ratelimit.init_app(app)
    security.init_app(app)
    _register_request_hooks(app)
    from . import idempotency
    from .services import audit

    audit.init_app(app)
    idempotency.init_app(app)

    from .api import register_blueprints
    from .auth import tokens  # noqa: F401  (registers the JWT callbacks)

    register_blueprints(app)
    _init_docs(app)

    from .cli import register_cli
    register_cli(app)

    _prepare_database(app)
    _prepare_login_checks(app)
    return app


def _prepare_login_checks(app):
    from .services.accounts import prepare_login_checks

    with app.app_context():
        prepare_login_checks()


def _prepare_database(app):
    """Indexes and the bootstrap admin at start-up; a database that is down must not stop the worker."""
    from pymongo.errors import PyMongoError

    from .services.accounts import bootstrap_admin

    try:
        if app.config["ENSURE_INDEXES_ON_START"]:
            db.ensure_indexes(db.get_db(app))
        with app.app_context():
            bootstrap_admin()
    except PyMongoError as exc:
        # /health/ready answers 503 until the database is back; run `crm ensure-indexes` then.
        logging.getLogger("crm_service").error("start-up database work failed: %s", type(exc).__name__)


def _register_request_hooks(app):
    @app.before_request
    def start_request():
        g.started = time.perf_counter()
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if REQUEST_ID_PATTERN.match(incoming) else uuid.uuid4().hex
        # The token is checked once, here, so the rate limits (429 before any other answer) know the user.
        authentication = authenticate_request()
        ratelimit.check_request(authentication.principal if authentication else None)
        if request.method in BODY_METHODS and request.path.startswith("/api/"):
            has_body = (request.content_length or 0) > 0 or request.headers.get("Transfer-Encoding")
            allowed = getattr(app.view_functions.get(request.endpoint), "content_types", ("application/json",))
            if has_body and request.mimetype not in allowed:
                raise ApiError(415, f"Request bodies must be {' or '.join(allowed)}")

    @app.after_request
    def finish_request(response):
        response.headers["X-Request-ID"] = getattr(g, "request_id", "")
        ratelimit.add_headers(response)
        principal = getattr(g, "principal", None)
        access_log.info(
            "%s %s %s", request.method, request.path, response.status_code,
            extra={
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 2),
                "user_id": principal.user_id if principal else None,
            },
        )
        return response


def _init_docs(app):
    from flasgger import Swagger

    from .api.docs import build_spec

    spec = build_spec(app, "CRM service API", __version__)
    config = {
        "title": "CRM service API",
        "openapi": "3.0.3",
        "uiversion": 3,
        "specs_route": "/apidocs/",
        "specs": [{"endpoint": "openapi", "route": "/openapi.json", "rule_filter": lambda rule: False}],
        "headers": [],
        "static_url_path": "/flasgger_static",
        "swagger_ui": True,
    }
    Swagger(app, config=config, template=spec, merge=False)
