"""Idempotency-Key on POST (SPEC §3): a retry replays the first answer and creates nothing."""


def init_app(app):
    """Registers the request hooks (being built)."""
