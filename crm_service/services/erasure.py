"""Privacy erasure of one customer everywhere its personal data lives (SPEC §5 Customers)."""
from crm_service.repositories import emails, feedback, opportunities, sales, tickets
from crm_service.repositories.customers import CustomerRepository
from crm_service.repositories.interactions import InteractionRepository
from crm_service.repositories.sessions import SessionRepository
from crm_service.repositories.tombstones import TombstoneRepository
from crm_service.repositories.users import UserRepository

from . import audit

# Each module removes or anonymises the person's data in its own collection.
ERASERS = {
    "tickets": tickets.erase_customer,
    "feedback": feedback.erase_customer,
    "sales": sales.erase_customer,
    "opportunities": opportunities.erase_customer,
    # Mail to the person (also mail sent to its address without a customer_id) is deleted.
    "emails": emails.erase_customer,
}


def erase_customer(db, customer):
    """Erase `customer` (a customer document): record, histories, login, and what hangs off it.

    Returns {collection: documents touched}. Reports keep anonymous figures (ticket counts,
    sale amounts); nothing left names the person. The audit log keeps its entries about the person
    (and its records) with the person's values replaced by "[erased]", and gains one `erase` entry
    that names no values.
    """
    _tombstones_for_erased(db, customer)
    touched = {name: eraser(db, customer["_id"]) for name, eraser in ERASERS.items()}
    if customer.get("user_id"):
        SessionRepository(db).revoke_user(customer["user_id"], "customer erased")
        touched["users"] = int(UserRepository(db).delete(customer["user_id"]))
    touched["customers"] = int(CustomerRepository(db).erase(customer["_id"]))
    TombstoneRepository(db).record("customers", customer["_id"], customer["_id"])
    if customer.get("user_id"):
        TombstoneRepository(db).record("users", customer["user_id"])
    touched["audit_log"] = audit.erase_subject(db, customer["_id"])
    audit.record("erase", "customers", customer["_id"], changes={}, db=db)
    return touched


def _tombstones_for_erased(db, customer):
    """Offline copies must drop the person's interactions and feedback too: one tombstone each."""
    tombstones = TombstoneRepository(db)
    owner = customer["_id"]
    tombstones.record_many("feedback", feedback.ids_of_customer(db, owner), owner)
    # The embed limit only matters to writes; this repository is used to read ids.
    tombstones.record_many("interactions", InteractionRepository(db, embed_limit=1).ids_of_customer(owner), owner)
