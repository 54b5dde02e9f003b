"""E-mail: send through SMTP, tracking pixel, replies, engagement (SPEC §6)."""
import logging
import re

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from pymongo.errors import PyMongoError

from crm_service.auth.decorators import current_principal, require
from crm_service.db import get_db
from crm_service.errors import NotFound, invalid
from crm_service.repositories.base import utcnow
from crm_service.repositories.customers import CustomerRepository
from crm_service.repositories.emails import MAX_RESPONSES, EmailRepository
from crm_service.schemas.emails import (
    EmailListQuerySchema,
    EmailPageSchema,
    EmailResponseSchema,
    EmailSchema,
    EngagementSchema,
)
from crm_service.services import audit
from crm_service.services.emails import looks_like_html, send_email

from .docs import operation
from .etags import record_with_etag
from .helpers import load_body, load_query, page_request, sort_of

bp = Blueprint("emails", __name__, url_prefix="/api/v1/emails")
# The pixel is public (mail clients fetch it without a token), so it sits on a blueprint of its own.
tracking_bp = Blueprint("tracking", __name__, url_prefix="/api/v1/t")
blueprints = (bp, tracking_bp)

log = logging.getLogger("crm_service.emails")
email_schema = EmailSchema()
response_schema = EmailResponseSchema()
list_query_schema = EmailListQuerySchema()
page_schema = EmailPageSchema()
engagement_schema = EngagementSchema()
# A transparent 1x1 GIF (43 bytes): the same answer for every token, known or not.
PIXEL = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
         b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)


def _tracking_url(token):
    """The pixel's absolute URL: PUBLIC_BASE_URL when set, else the host this request came to."""
    base = current_app.config.get("PUBLIC_BASE_URL") or request.host_url
    return base.rstrip("/") + url_for("tracking.open_pixel", token=token)


def _email(email_id):
    email = EmailRepository(get_db()).get(email_id)
    if email is None:
        raise NotFound("Email not found")
    return email


def _answer(email, status=200):
    location = url_for("emails.get_email", email_id=str(email["_id"])) if status == 201 else None
    return record_with_etag(email_schema.dump(email), email, status, location)


@bp.post("")
@require("crm:create:emails")
@operation("Send an e-mail through SMTP, with a tracking pixel; logs an `email` interaction on the customer",
           tags=["emails"], body=EmailSchema, response=EmailSchema, status=201,
           description="The record is stored (status `queued`) before sending, then marked `sent` (sent_at) or "
                       "`failed` (failure_reason, e.g. `SMTP_HOST is not set` or the SMTP error): the answer is "
                       "201 with the record either way, and the message is never lost. With customer_id, `to` "
                       "defaults to the customer's email (an unknown customer is 422) and an `email` interaction "
                       "is logged on it (status completed, or cancelled when the send failed). The mail has a "
                       "text part and an HTML part; `html` says which the body is (omitted: HTML when it holds a "
                       "tag).")
def send():
    data = load_body(email_schema)
    customer = None
    if data.get("customer_id"):
        customer = CustomerRepository(get_db()).get(data["customer_id"])
        if customer is None:
            raise invalid({"customer_id": ["No customer with this id."]})
    to = data.get("to") or (customer or {}).get("email")
    if not to:
        raise invalid({"to": ["The customer has no email address; give to."]})
    is_html = data["html"] if data.get("html") is not None else looks_like_html(data["body"])
    fields = {"to": to, "subject": data["subject"], "body": data["body"], "html": is_html}
    email = send_email(fields, customer, current_principal().user_id, _tracking_url)
    # The tracking URL carries the pixel's token: it stays out of the audit log.
    audit.record("create", "emails", email["_id"], after={k: v for k, v in email.items() if k != "tracking_url"})
    return _answer(email, 201)


@bp.get("")
@require("crm:read:emails")
@operation("List e-mails, with the open rate over the whole filter", tags=["emails"], query=EmailListQuerySchema,
           response=EmailPageSchema,
           description="The usual list envelope plus `open_rate`: opened / sent over every sent email the filter "
                       "matches (null when none was sent, and with count=false, which skips both counts). "
                       "`from`/`to` bound created_at; `sent_after`/`sent_before` bound sent_at.")
def list_emails():
    query = load_query(list_query_schema)
    repository = EmailRepository(get_db())
    mongo_query = EmailRepository.build_query(query)
    page = repository.list(mongo_query, sort_of(query, list_query_schema), page_request(query))
    open_rate = repository.open_rate(mongo_query) if query["count"] else None
    return jsonify(page_schema.dump({
        "items": page.items, "page": page.page, "size": page.size, "total": page.total, "pages": page.pages,
        "next_cursor": page.next_cursor, "open_rate": open_rate,
    }))


@bp.get("/<email_id>")
@require("crm:read:emails")
@operation("Read one e-mail", tags=["emails"], response=EmailSchema)
def get_email(email_id):
    return _answer(_email(email_id))


@bp.post("/<email_id>/responses")
@require("crm:create:emails")
@operation("Record a reply to an e-mail", tags=["emails"], body=EmailResponseSchema, response=EmailSchema,
           status=201,
           description=f"Answers 201 with the whole e-mail record (its `responses` in received_at order). "
                       f"received_at defaults to now. An e-mail keeps at most {MAX_RESPONSES} replies (422 past "
                       f"that).")
def add_response(email_id):
    data = load_body(response_schema)
    repository = EmailRepository(get_db())
    current = _email(email_id)
    reply = {"body": data["body"], "received_at": data.get("received_at") or utcnow()}
    updated = repository.add_response(current["_id"], reply)
    if updated is None:
        if repository.get(email_id) is None:  # erased meanwhile
            raise NotFound("Email not found")
        raise invalid({"body": [f"This e-mail already has {MAX_RESPONSES} replies."]})
    audit.record("respond", "emails", current["_id"], before=current, after=updated)
    return _answer(updated, 201)


@bp.get("/<email_id>/engagement")
@require("crm:read:emails")
@operation("Opens and replies of one e-mail", tags=["emails"], response=EngagementSchema)
def engagement(email_id):
    email = _email(email_id)
    return jsonify(engagement_schema.dump({
        "opened": email.get("open_count", 0) > 0,
        "open_count": email.get("open_count", 0),
        "first_opened_at": email.get("first_opened_at"),
        "last_opened_at": email.get("last_opened_at"),
        "responses": email.get("responses", []),
    }))


@tracking_bp.get("/<token>.gif")
@operation("Tracking pixel: records an open of the e-mail with this token", tags=["emails"], public=True,
           response_content_type="image/gif",
           description="Public (mail clients send no token). Always the same transparent 1x1 GIF with "
                       "`Cache-Control: no-store`, for known and unknown tokens alike; an unknown token records "
                       "nothing. Query parameters are ignored. Never 404.")
def open_pixel(token):
    if TOKEN_PATTERN.match(token):
        try:
            EmailRepository(get_db()).record_open(token)
        except PyMongoError as exc:
            # An image must still come back: a lost open is better than a broken image in someone's mail.
            log.warning("open not recorded: %s", type(exc).__name__)
    response = Response(PIXEL, mimetype="image/gif")
    response.headers["Cache-Control"] = "no-store"
    return response
