"""The audit log over real TCP/BSON: entries, filters, cursors, erasure, and index-backed list queries."""
from bson import ObjectId

from crm_service.repositories.audit import AuditRepository
from tests.api.audit_helpers import AUDIT, created, entries, only_entry
from tests.wire.test_query_plans_wire import plan_stages

SORT = [("at", -1), ("_id", -1)]


def test_writes_are_listed_filtered_and_paged(admin):
    company = created(admin, "/api/v1/companies", {"name": "Atlas", "address": {"city": "Fes"}})
    admin.patch(f"/api/v1/companies/{company['id']}", json={"address": {"city": "Rabat"}})
    for number in range(3):
        created(admin, "/api/v1/products", {"sku": f"P-{number}", "name": "Tour", "price": "10.50"})

    update = only_entry(admin, entity="companies", action="update")
    assert update["changes"] == {"address.city": {"from": "Fes", "to": "Rabat"}}
    assert entries(admin, entity="products")[0]["changes"]["price"] == {"from": None, "to": "10.50"}
    seen = []
    page = admin.get(AUDIT, query_string={"size": 2}).get_json()
    seen += page["items"]
    while page["next_cursor"]:
        page = admin.get(AUDIT, query_string={"size": 2, "cursor": page["next_cursor"]}).get_json()
        seen += page["items"]
    assert [entry["id"] for entry in seen] == [entry["id"] for entry in entries(admin)]
    assert len(seen) == 5


def test_erasure_rewrites_the_entries_in_place(admin, customer, db):
    customer.patch(f"/api/v1/customers/{customer.customer_id}", json={"first_name": "Salma"})

    assert admin.delete(f"/api/v1/customers/{customer.customer_id}", query_string={"erase": "true"}).status_code == 204

    update = only_entry(admin, entity_id=customer.customer_id, action="update")
    assert update["changes"] == {"first_name": {"from": "[erased]", "to": "[erased]"}}
    assert db.audit_log.count_documents({"changes.to": "Salma"}) == 0


def test_every_audit_list_query_uses_an_index(admin, db):
    created(admin, "/api/v1/companies", {"name": "Atlas"})
    oid = ObjectId()
    for filters in ({}, {"entity": "companies"}, {"entity_id": str(oid)}, {"actor_id": str(oid)},
                    {"action": "update"}):
        query = AuditRepository.build_query(filters)
        explain = db.audit_log.find(query).sort(SORT).limit(21).explain()
        stages = plan_stages(explain)
        assert "COLLSCAN" not in stages, (filters, stages)
    erase_plan = plan_stages(db.audit_log.find({"subject_ids": oid}).explain())
    assert "COLLSCAN" not in erase_plan
