"""A real SMTP server for tests: aiosmtpd on 127.0.0.1 and a free port, keeping what it receives."""
import email
import email.policy
import socket
import threading
from contextlib import contextmanager

from aiosmtpd.controller import Controller

START_ATTEMPTS = 3


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Delivered:
    """One accepted message: the envelope and the parsed message."""

    def __init__(self, envelope):
        self.mail_from = envelope.mail_from
        self.rcpt_tos = list(envelope.rcpt_tos)
        self.message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)

    @property
    def subject(self):
        return self.message["Subject"]

    def part(self, content_type):
        """The decoded text of the first part of this type (text/plain, text/html) with \\n line ends, or None."""
        for part in self.message.walk():
            if part.get_content_type() == content_type and not part.is_multipart():
                return part.get_content().replace("\r\n", "\n")
        return None


class RecordingHandler:
    """Accepts every recipient except those in `refused`; keeps every message it accepts."""

    def __init__(self):
        self.refused = set()
        self.messages = []
        self._lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 (aiosmtpd hook)
        if address.lower() in self.refused:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd hook)
        with self._lock:
            self.messages.append(Delivered(envelope))
        return "250 Message accepted for delivery"

    def received(self):
        with self._lock:
            return list(self.messages)


class SmtpServer:
    def __init__(self, handler, port):
        self.handler = handler
        self.host = "127.0.0.1"
        self.port = port

    @property
    def messages(self):
        return self.handler.received()

    def refuse(self, address):
        self.handler.refused.add(address.lower())

    def configure(self, config):
        """Point an app config at this server (no TLS, no login)."""
        config.SMTP_HOST = self.host
        config.SMTP_PORT = self.port
        config.SMTP_TIMEOUT_SECONDS = 5
        return config


@contextmanager
def running_smtp_server():
    """Start a server, yield it, and always stop it (its event-loop thread is joined)."""
    handler = RecordingHandler()
    for attempt in range(START_ATTEMPTS):
        controller = Controller(handler, hostname="127.0.0.1", port=free_port())
        try:
            controller.start()
            break
        except OSError:  # another process took the port between the probe and the bind
            if attempt == START_ATTEMPTS - 1:
                raise
    try:
        yield SmtpServer(handler, controller.port)
    finally:
        controller.stop()
