"""Browser-facing hardening: CORS for the configured origins, security headers, the client address behind proxies."""
import io
import re

from flask import Request, request
from flask_cors import CORS
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream, get_input_stream

from .config import ConfigError

CORS_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
CORS_ALLOW_HEADERS = ["Authorization", "Content-Type", "If-Match", "If-None-Match", "Idempotency-Key", "X-Request-ID"]
CORS_EXPOSE_HEADERS = ["ETag", "Location", "Retry-After", "X-Request-ID",
                       "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"]
CORS_MAX_AGE_SECONDS = 600
# An origin is a scheme, a host and maybe a port: nothing else, so no wildcard or pattern slips in.
ORIGIN = re.compile(r"^https?://[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*(:\d{1,5})?$")

# JSON needs no sources at all; the Swagger UI page runs its bundled scripts plus an inline start-up
# script and inline styles, and loads its web fonts from Google.
API_CSP = "default-src 'none'; frame-ancestors 'none'"
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; "
            "style-src 'self' 'unsafe-inline' https://fonts.googleapis.com; font-src 'self' https://fonts.gstatic.com; "
            "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
DOCS_PATHS = ("/apidocs", "/flasgger_static/")
HSTS = "max-age=31536000"


class _NoSilentCut(io.RawIOBase):
    """A body without Content-Length (chunked) read up to the maximum, and 413 if anything follows.

    Werkzeug stops reading such a body at max_content_length without a word, so the view would see
    it cut short (a broken JSON document: 400); one more byte from the server's stream tells.
    """

    def __init__(self, limited, raw):
        super().__init__()
        self._limited = limited
        self._raw = raw

    def readable(self):
        return True

    def readinto(self, buffer):
        if self._limited.is_exhausted:
            if self._raw.read(1):
                raise RequestEntityTooLarge()
            return 0
        return self._limited.readinto(buffer) or 0


class CrmRequest(Request):
    """Flask's request, strict about the size of chunked bodies and tidy when an upload is cut off."""

    @cached_property
    def stream(self):
        stream = get_input_stream(self.environ, max_content_length=self.max_content_length)
        if isinstance(stream, LimitedStream) and self.content_length is None and self.max_content_length is not None:
            return _NoSilentCut(stream, self.environ["wsgi.input"])
        return stream

    def _get_file_stream(self, *args, **kwargs):
        # Kept so close() can close it even when parsing stopped half-way (413) and no `files` exist.
        file_stream = super()._get_file_stream(*args, **kwargs)
        self.__dict__.setdefault("_upload_streams", []).append(file_stream)
        return file_stream

    def close(self):
        super().close()
        for file_stream in self.__dict__.pop("_upload_streams", ()):
            file_stream.close()


def init_app(app):
    """ProxyFix when proxies are trusted, CORS for CORS_ORIGINS, and the security headers on every response."""
    app.request_class = CrmRequest
    proxies = app.config["TRUSTED_PROXY_COUNT"]
    if proxies < 0:
        raise ConfigError("TRUSTED_PROXY_COUNT must be 0 or more")
    if proxies:
        # X-Forwarded-For: the address `proxies` hops back is the client's; the scheme is the nearest proxy's.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=1)
    origins = app.config["CORS_ORIGINS"]
    bad = [origin for origin in origins if not ORIGIN.match(origin)]
    if bad:
        raise ConfigError(f"CORS_ORIGINS must list origins like https://app.example.com, got {bad}")
    if origins:
        CORS(app, resources={r"/api/*": {"origins": origins}}, methods=CORS_METHODS,
             allow_headers=CORS_ALLOW_HEADERS, expose_headers=CORS_EXPOSE_HEADERS,
             supports_credentials=True, max_age=CORS_MAX_AGE_SECONDS)
    app.after_request(add_security_headers)


_ALWAYS = (("x-content-type-options", "X-Content-Type-Options", "nosniff"),
           ("x-frame-options", "X-Frame-Options", "DENY"),
           ("referrer-policy", "Referrer-Policy", "no-referrer"))


def add_security_headers(response):
    headers = response.headers
    # One pass over the headers a view set (Headers.get/setdefault would each scan them again).
    present = {name.lower() for name, _ in headers.items()}
    for key, name, value in _ALWAYS:
        if key not in present:
            headers.add(name, value)
    path = request.path
    if "content-security-policy" not in present:
        headers.add("Content-Security-Policy", DOCS_CSP if path.startswith(DOCS_PATHS) else API_CSP)
    # API answers carry tokens and personal data: no cache keeps them (ETag revalidation still works).
    if "cache-control" not in present and path.startswith("/api/"):
        headers.add("Cache-Control", "no-store")
    # Only over HTTPS (directly, or as the trusted proxy says): a browser ignores it over plain HTTP anyway.
    if "strict-transport-security" not in present and request.is_secure:
        headers.add("Strict-Transport-Security", HSTS)
    return response
