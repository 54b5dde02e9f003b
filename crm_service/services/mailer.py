"""Outgoing e-mail over SMTP with the SMTP_* settings; a failure comes back as a reason without secrets."""
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

MAX_REASON_LENGTH = 500


class MailError(Exception):
    """The message was not handed to the SMTP server; `reason` says why (safe to store and show)."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def compose(sender, to, subject, text, html=None):
    """A message with a text part, and with an HTML alternative when `html` is given."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    domain = sender.rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def deliver(config, message):
    """Hand `message` to the configured SMTP server; raises MailError with a reason when that fails.

    `config` is the app's config mapping. SMTP_SSL connects over TLS from the start (and wins over
    SMTP_STARTTLS); SMTP_STARTTLS upgrades a plain connection; SMTP_USERNAME logs in. Every network
    step is bounded by SMTP_TIMEOUT_SECONDS.
    """
    host = config.get("SMTP_HOST")
    if not host:
        raise MailError("SMTP_HOST is not set")
    port, timeout = config["SMTP_PORT"], config["SMTP_TIMEOUT_SECONDS"]
    try:
        if config.get("SMTP_SSL"):
            connection = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
        else:
            connection = smtplib.SMTP(host, port, timeout=timeout)
        with connection:
            if config.get("SMTP_STARTTLS") and not config.get("SMTP_SSL"):
                connection.starttls(context=ssl.create_default_context())
            if config.get("SMTP_USERNAME"):
                connection.login(config["SMTP_USERNAME"], config.get("SMTP_PASSWORD") or "")
            connection.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(_reason(exc, config)) from exc


def _reason(exc, config):
    """`<ErrorClass>: <server reply or message>`, without the SMTP password, capped in length."""
    name = type(exc).__name__
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        replies = [f"{address} {code} {_text(reply)}" for address, (code, reply) in exc.recipients.items()]
        detail = "; ".join(replies)
    elif isinstance(exc, smtplib.SMTPResponseException):
        detail = f"{exc.smtp_code} {_text(exc.smtp_error)}"
    else:
        detail = str(exc) or "no detail"
    reason = f"{name}: {detail}"
    password = config.get("SMTP_PASSWORD")
    if password:
        reason = reason.replace(password, "[redacted]")
    return reason[:MAX_REASON_LENGTH]


def _text(reply):
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
