"""Sending a CRM e-mail: record it first, send it with a tracking pixel, log it on the customer."""
import html as html_lib
import logging
import re
import secrets
from html.parser import HTMLParser

from flask import current_app

from crm_service.db import get_db
from crm_service.repositories.base import to_object_id, utcnow
from crm_service.repositories.emails import EmailRepository
from crm_service.repositories.interactions import InteractionRepository

from .mailer import MailError, compose, deliver

# A start or end tag such as <p>, </div>, <br/>, <a href="...">: a body holding one is HTML.
TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(\s[^<>]*)?/?>")
BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
BLOCK_TAGS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "blockquote"}
INTERACTION_SUBJECT_LENGTH = 255
log = logging.getLogger("crm_service.emails")


def looks_like_html(body):
    """How a body with no `html` flag is read: HTML when it holds at least one tag."""
    return bool(TAG.search(body))


class _TextExtractor(HTMLParser):
    """The readable text of an HTML body, for the text/plain part (scripts and styles dropped)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.chunks = []
        self._skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skipping += 1
        elif tag in BLOCK_TAGS:
            self.chunks.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skipping = max(0, self._skipping - 1)
        elif tag in BLOCK_TAGS:
            self.chunks.append("\n")

    def handle_data(self, data):
        if not self._skipping:
            self.chunks.append(data)


def html_to_text(body):
    extractor = _TextExtractor()
    extractor.feed(body)
    extractor.close()
    lines = [" ".join(line.split()) for line in "".join(extractor.chunks).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def text_to_html(body):
    paragraphs = [html_lib.escape(part).replace("\n", "<br>\n") for part in re.split(r"\n\s*\n", body.strip())]
    return "<html><body>\n" + "\n".join(f"<p>{part}</p>" for part in paragraphs) + "\n</body></html>"


def pixel_tag(tracking_url):
    return f'<img src="{html_lib.escape(tracking_url)}" width="1" height="1" alt="">'


def with_pixel(html_body, tracking_url):
    """The HTML with the tracking pixel just before its last </body>, or at its end."""
    tag = pixel_tag(tracking_url)
    ends = list(BODY_END.finditer(html_body))
    if not ends:
        return html_body + tag
    at = ends[-1].start()
    return html_body[:at] + tag + html_body[at:]


def parts_of(body, is_html, tracking_url):
    """(text part, HTML part with the pixel) for a body written as HTML or as plain text."""
    if is_html:
        return html_to_text(body), with_pixel(body, tracking_url)
    return body, with_pixel(text_to_html(body), tracking_url)


def new_tracking_token():
    return secrets.token_urlsafe(32)


def send_email(fields, customer, sender_id, tracking_url_for):
    """Store the e-mail (queued), send it, log an `email` interaction on the customer, mark it sent or failed.

    `fields`: to, subject, body, html (bool). `customer`: the customer document or None.
    `tracking_url_for(token)` builds the pixel's absolute URL. Returns the stored email document.
    The record is written before any network work, so a failed or interrupted send never loses the message.
    """
    db = get_db()
    emails = EmailRepository(db)
    token = new_tracking_token()
    tracking_url = tracking_url_for(token)
    email = emails.create({
        **fields,
        "customer_id": customer["_id"] if customer else None,
        "sender_id": to_object_id(sender_id),
        "tracking_token": token,
        "tracking_url": tracking_url,
    })
    config = current_app.config
    failure_reason = None
    try:
        text, html = parts_of(fields["body"], fields["html"], tracking_url)
        deliver(config, compose(config["SMTP_FROM"], fields["to"], fields["subject"], text, html))
    except MailError as exc:
        failure_reason = exc.reason
        log.warning("e-mail %s not sent: %s", email["_id"], exc.reason.split(":", 1)[0])
    except Exception as exc:  # a bug while composing: the record still ends failed, not queued forever
        failure_reason = f"{type(exc).__name__}: unexpected error while sending"
        log.exception("e-mail %s not sent", email["_id"])
    interaction_id = None
    if customer is not None:
        interaction_id = _log_interaction(db, customer["_id"], email, sender_id, failure_reason is None)
    return emails.finish(email, failure_reason, interaction_id)


def _log_interaction(db, customer_oid, email, sender_id, sent):
    """An `email` interaction on the customer: completed when sent, cancelled (did not happen) when not."""
    repository = InteractionRepository(db, current_app.config["INTERACTION_EMBED_LIMIT"])
    notes = f"E-mail sent to {email['to']}." if sent else f"E-mail to {email['to']} could not be sent."
    interaction = repository.add(customer_oid, {
        "type": "email",
        "subject": email["subject"][:INTERACTION_SUBJECT_LENGTH],
        "notes": notes,
        "employee_id": to_object_id(sender_id),
        "occurred_at": utcnow(),
        "status": "completed" if sent else "cancelled",
        "follow_up_required": False,
        "email_id": email["_id"],
    })
    return interaction["id"] if interaction else None
