"""A small CRM world for the bad-input campaign: staff, two customer users (own / other) and their records."""
import logging

import mongomock
from bson import ObjectId

from crm_service import create_app
from crm_service.config import TestConfig
from crm_service.db import get_db
from tests.conftest import login, make_staff, register


def _app():
    return create_app(TestConfig(), mongo_client=mongomock.MongoClient(tz_aware=True))


class World:
    """Two customer users (own / other), their companies, tickets, feedback and interactions, and staff.

    Built once; `reset()` puts every collection back as it was, so each operation starts from the same data.
    """

    def __init__(self):
        self.app = _app()
        logging.getLogger("crm_service").setLevel(logging.WARNING)
        self.client = self.app.test_client()
        self.tokens = {}
        for role in ("admin", "sales"):
            user = make_staff(self.app, role)
            self.tokens[role] = login(self.client, user["username"])
        self.staff_user_id = self.tokens["sales"]["user"]["id"]
        mine = register(self.client, company="Own Company")
        theirs = register(self.client, company="Other Company")
        self.tokens["customer"] = login(self.client, mine["user"]["username"])
        other_tokens = login(self.client, theirs["user"]["username"])
        self.ids = {"customer_id": (mine["customer"]["id"], theirs["customer"]["id"])}
        self.ids["company_id"] = tuple(self._admin("GET", f"/api/v1/customers/{cid}")["company_id"]
                                       for cid in self.ids["customer_id"])
        self.ids["ticket_id"] = tuple(
            self._call(tokens, "POST", "/api/v1/tickets", {"subject": "Help"})["id"]
            for tokens in (self.tokens["customer"], other_tokens))
        self.ids["feedback_id"] = tuple(
            self._call(tokens, "POST", "/api/v1/feedback", {"rating": 4})["id"]
            for tokens in (self.tokens["customer"], other_tokens))
        self.ids["interaction_id"] = tuple(
            self._admin("POST", f"/api/v1/customers/{cid}/interactions", {"type": "note", "notes": "Hello"})["id"]
            for cid in self.ids["customer_id"])
        product = self._admin("POST", "/api/v1/products", {"sku": "P-1", "name": "Tour", "price": "10.00"})
        own_customer = self.ids["customer_id"][0]
        self.single = {
            "user_id": self.staff_user_id,
            "product_id": product["id"],
            "sale_id": self._admin("POST", "/api/v1/sales", {"customer_id": own_customer,
                                                              "product_id": product["id"]})["id"],
            "opportunity_id": self._admin("POST", "/api/v1/opportunities", {
                "customer_id": own_customer, "title": "Deal", "amount": "100.00"})["id"],
            "segment_id": self._admin("POST", "/api/v1/segments", {
                "name": "Leads", "criteria": {"status": ["lead"]}})["id"],
        }
        self.db = get_db(self.app)
        self.saved = {name: list(self.db[name].find()) for name in self.db.list_collection_names()}

    def reset(self):
        for name in self.db.list_collection_names():
            self.db[name].delete_many({})
            if self.saved.get(name):
                self.db[name].insert_many(self.saved[name])

    def _call(self, tokens, method, path, body=None):
        response = self.client.open(path, method=method, json=body,
                                    headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert response.status_code in (200, 201), (method, path, response.get_json())
        return response.get_json()

    def _admin(self, method, path, body=None):
        return self._call(self.tokens["admin"], method, path, body)

    def path(self, rule, variant):
        """The rule with its arguments filled: own (0) or other (1) records for customer-scoped ones."""
        values = {}
        for name in rule.arguments:
            if name in self.ids:
                values[name] = self.ids[name][variant]
            else:
                values[name] = self.single.get(name, str(ObjectId()))
        return rule.build(values, append_unknown=False)[1] if values else rule.rule

    def ids_in(self, rule, variant):
        """The id of the last customer-scoped argument in the path (the record the request is about)."""
        scoped = [name for name in rule.arguments if name in self.ids]
        return self.ids[sorted(scoped, key=rule.rule.index)[-1]][variant]

    def send(self, method, path, role, refresh=False):
        """An empty body in the operation's media type (an empty form for an upload, `{}` otherwise)."""
        headers = {}
        if role is not None:
            kind = "refresh_token" if refresh else "access_token"
            headers["Authorization"] = f"Bearer {self.tokens[role][kind]}"
        if method not in ("POST", "PUT", "PATCH"):
            return self.client.open(path, method=method, headers=headers)
        view = self.app.view_functions[self.app.url_map.bind("localhost").match(path, method=method)[0]]
        if "multipart/form-data" in getattr(view, "content_types", ()):
            return self.client.open(path, method=method, data={"note": "x"}, headers=headers,
                                    content_type="multipart/form-data")
        return self.client.open(path, method=method, json={}, headers=headers)

    def path_values(self, variant=0):
        """Every path argument name this world knows -> an existing record's id (own records by default)."""
        return {**{name: ids[variant] for name, ids in self.ids.items()}, **self.single}

    def headers(self, role="admin"):
        return {"Authorization": f"Bearer {self.tokens[role]['access_token']}"}

    def snapshot(self, ignore=()):
        """Every document of every collection (but `ignore`), to compare before and after a request."""
        return {name: sorted(map(repr, self.db[name].find())) for name in sorted(self.db.list_collection_names())
                if name not in ignore}
