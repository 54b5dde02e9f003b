"""Shortcuts taken on every request keep the answers of the general code they skip."""
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from bson import ObjectId
from bson.decimal128 import Decimal128
from flask import Flask, Response

from crm_service.repositories.base import fold
from crm_service.security import API_CSP, add_security_headers
from crm_service.services.audit import REDACTED, plain


class Text(str):
    pass


class Moment(datetime):
    pass


def test_plain_by_exact_type_matches_the_subclass_path():
    when = datetime(2026, 11, 24, 12, 30, 5, 123456, tzinfo=UTC)
    oid = ObjectId()
    value = {
        "name": "Zoë", "count": 3, "ratio": 0.5, "flag": True, "none": None, "id": oid, "at": when,
        "day": date(2026, 1, 2), "money": Decimal("12.50"), "money128": Decimal128("7.25"),
        "tags": ("a", "b"), "nested": {"password_hash": "x", "token": None, "ids": [oid]},
        "subclassed": [Text("t"), Moment(2026, 11, 24, tzinfo=UTC)],
    }

    assert plain(value) == {
        "name": "Zoë", "count": 3, "ratio": 0.5, "flag": True, "none": None, "id": str(oid),
        "at": "2026-11-24T12:30:05.123Z", "day": "2026-01-02", "money": "12.50", "money128": "7.25",
        "tags": ["a", "b"], "nested": {"password_hash": REDACTED, "token": None, "ids": [str(oid)]},
        "subclassed": ["t", "2026-11-24T00:00:00.000Z"],
    }
    assert type(plain(True)) is bool and type(plain(Text("t"))) is Text


@pytest.mark.parametrize("text", ["Ada Lovelace", "ADA@EXAMPLE.COM", "", "o'brien-smith 42"])
def test_fold_of_ascii_text_is_the_general_fold(text):
    import unicodedata

    general = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch)).lower()
    assert fold(text) == general


def test_fold_still_strips_accents_and_compatibility_forms():
    assert fold("Élodie Zoë") == "elodie zoe"
    assert fold("ﬁle") == "file"
    assert fold(None) == ""


def test_security_headers_keep_what_the_view_set_and_appear_once():
    app = Flask(__name__)
    with app.test_request_context("/api/v1/customers"):
        response = Response("{}", headers={"cache-control": "private, max-age=60", "X-Frame-Options": "SAMEORIGIN"})
        add_security_headers(response)

    headers = response.headers
    assert headers.getlist("Cache-Control") == ["private, max-age=60"]
    assert headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    assert headers.getlist("X-Content-Type-Options") == ["nosniff"]
    assert headers.getlist("Content-Security-Policy") == [API_CSP]
    assert "Strict-Transport-Security" not in headers  # plain HTTP
