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


def _service_schemas():
    import importlib
    import inspect
    import pkgutil

    import crm_service.schemas as package
    from crm_service.schemas.common import DictDumpSchema

    found = {}
    for module_info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"crm_service.schemas.{module_info.name}")
        for value in vars(module).values():
            if inspect.isclass(value) and issubclass(value, DictDumpSchema) and value.__module__ == module.__name__:
                found[value.__name__] = value
    return [found[name] for name in sorted(found)]


SERVICE_SCHEMAS = _service_schemas()


def _value_for(field, draw):
    """A value of the kind the field stores, or None, or a value of another kind (both paths must agree)."""
    from hypothesis import strategies as st
    from marshmallow import fields as mf

    from crm_service.schemas.common import ObjectIdString, UtcDateTime

    moment = st.datetimes(timezones=st.just(UTC), min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1))
    if isinstance(field, ObjectIdString):
        kind = st.builds(ObjectId)
    elif isinstance(field, UtcDateTime | mf.DateTime):
        kind = moment
    elif isinstance(field, mf.Boolean):
        kind = st.booleans()
    elif isinstance(field, mf.Integer):
        kind = st.integers(-10**6, 10**6)
    elif isinstance(field, mf.Float):
        kind = st.floats(allow_nan=False, allow_infinity=False)
    elif isinstance(field, mf.List):
        kind = st.lists(st.text(max_size=5), max_size=3)
    elif isinstance(field, mf.Dict):
        kind = st.dictionaries(st.text(max_size=5), st.integers(), max_size=2)
    elif isinstance(field, mf.Nested):
        kind = st.just({})
    elif isinstance(field, mf.String):
        kind = st.text(max_size=8)
    else:
        kind = st.text(max_size=8) | st.decimals(allow_nan=False, allow_infinity=False, places=2)
    return draw(st.none() | kind)


def _outcome(serialize, document):
    try:
        return "ok", serialize(document)
    except Exception as exc:  # noqa: BLE001 - both paths must fail alike too
        return "error", type(exc)


@pytest.mark.parametrize("schema_class", SERVICE_SCHEMAS, ids=lambda schema_class: schema_class.__name__)
def test_dict_dump_answers_as_marshmallow_for_every_schema(schema_class):
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from marshmallow import Schema

    schema = schema_class()

    @st.composite
    def documents(draw):
        document = {}
        for name, field in schema.dump_fields.items():
            if draw(st.booleans()):  # present or absent
                document[field.attribute or name] = _value_for(field, draw)
        return document

    @settings(max_examples=25, deadline=None)
    @given(documents())
    def check(document):
        assert _outcome(schema._serialize, document) == _outcome(lambda d: Schema._serialize(schema, d), document)

    check()


def test_dict_dump_takes_the_shortcut_for_plain_fields_only():
    from crm_service.schemas.interactions import InteractionSchema

    plan = {name: plain for _, _, name, _, plain in InteractionSchema()._dump_plan()}

    assert plan and all(plan.values())  # every interaction field is read with dict.get
    document = {"id": ObjectId(), "type": "phone", "occurred_at": datetime(2026, 11, 24, tzinfo=UTC)}
    assert InteractionSchema().dump(document)["occurred_at"] == "2026-11-24T00:00:00.000Z"


def test_the_database_makes_each_collection_once():
    from pymongo import MongoClient
    from pymongo.write_concern import WriteConcern

    from crm_service.db import CachedDatabase, MongoHandle

    client = MongoClient("mongodb://127.0.0.1:1", connect=False)  # never contacted
    try:
        db = MongoHandle({"MONGO_DB_NAME": "crm_cache"}, client).db
        assert isinstance(db, CachedDatabase)
        assert db.customers is db.customers is db["customers"]
        assert db.customers is not db.interaction_archive
        assert db.customers.full_name == "crm_cache.customers"
        # options still give a collection of their own, and never replace the cached one
        unacknowledged = db.get_collection("customers", write_concern=WriteConcern(w=0))
        assert unacknowledged is not db.customers
        assert unacknowledged.write_concern.document == {"w": 0}
        assert db.customers.write_concern == client.write_concern
        with pytest.raises(AttributeError):
            getattr(db, "_private")  # noqa: B009 - pymongo's rule for underscore names still holds
    finally:
        client.close()


def test_a_handle_given_a_mock_client_uses_its_own_database():
    import mongomock

    from crm_service.db import CachedDatabase, MongoHandle

    db = MongoHandle({"MONGO_DB_NAME": "crm_mock"}, mongomock.MongoClient()).db
    assert not isinstance(db, CachedDatabase)
    db.customers.insert_one({"name": "x"})
    assert db.customers.count_documents({}) == 1
