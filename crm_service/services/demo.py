"""Realistic demo data written with bulk inserts: staff, companies, products, customers, histories and sales."""
import random
import re
from datetime import timedelta

from bson import ObjectId
from pymongo.errors import BulkWriteError

from crm_service.auth.passwords import hash_password
from crm_service.repositories.base import fold, utcnow, words
from crm_service.repositories.customers import derived_fields
from crm_service.repositories.interactions import item_key
from crm_service.schemas.money import to_decimal, to_stored

FIRST_NAMES = ["Ahmed", "Fatima", "Youssef", "Amina", "Omar", "Salma", "Karim", "Leila", "Mehdi", "Nadia",
               "John", "Emma", "Lucas", "Sofia", "Noah", "Mia", "Liam", "Zoë", "Hugo", "Chloé", "Ines", "Adam"]
LAST_NAMES = ["Hassan", "El Amrani", "Benali", "Tazi", "Alaoui", "Smith", "Martin", "Dubois", "Garcia", "Rossi",
              "Müller", "Bennani", "Idrissi", "Chraibi", "Lefèvre", "Moreau", "Fernández", "Okafor", "Kowalski"]
INDUSTRIES = ["tourism", "transport", "hospitality", "software", "retail", "finance", "education", "health"]
COMPANY_WORDS = ["Atlas", "Sahara", "Marrakech", "Blue", "Coast", "Global", "Nova", "Oasis", "Royal", "Summit",
                 "Horizon", "Medina", "Argan", "Cedar", "Delta", "Falcon"]
COMPANY_KINDS = ["Travel", "Tours", "Logistics", "Hotels", "Systems", "Partners", "Group", "Transport"]
REGIONS = ["Casablanca-Settat", "Marrakech-Safi", "Rabat-Salé-Kénitra", "Fès-Meknès", "Tanger-Tétouan", "Souss-Massa"]
TAGS = ["vip", "repeat", "newsletter", "b2b", "family", "group-travel", "airport", "premium"]
TYPES = ["email", "phone", "meeting", "chat", "in_person", "whatsapp", "sms", "note"]
SUBJECTS = ["Booking question", "Quote request", "Follow-up call", "Complaint about delay", "Tour planning",
            "Invoice", "Feedback on trip", "Upgrade offer", "Airport transfer", "Group discount"]
PRODUCTS = [("DESERT-2D", "Two-day desert tour", "460.00"), ("ATLAS-3D", "Atlas trek, three days", "1250.00"),
            ("CITY-HALF", "Half-day city tour", "180.00"), ("AIRPORT-TX", "Airport transfer", "250.00"),
            ("COAST-WK", "Coastal weekend", "2100.00"), ("GROUP-BUS", "Group coach, one day", "3400.00"),
            ("SURF-5D", "Surf camp, five days", "2750.00"), ("MEDINA-FOOD", "Medina food walk", "320.00")]
# More trips sold in spring and summer than in winter (index 0 = January): the forecast has a season to find.
MONTH_WEIGHTS = [0.6, 0.7, 0.9, 1.1, 1.2, 1.4, 1.6, 1.5, 1.1, 0.9, 0.7, 0.9]
STATUS_WEIGHTS = {"lead": 3, "prospect": 2, "active": 5, "inactive": 1, "churned": 1}
LOYALTY_WEIGHTS = {"new": 5, "bronze": 3, "silver": 2, "gold": 1, "platinum": 0.5, "vip": 0.2}


def _pick(rng, weights):
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _phone(rng):
    return f"+2126{rng.randint(10000000, 99999999)}"


def _insert(collection, documents):
    try:
        collection.insert_many(documents, ordered=False)
        return len(documents)
    except BulkWriteError as exc:
        return exc.details.get("nInserted", 0)


def _staff(rng, count, now):
    password_hash = hash_password("demo-password")
    return [{
        "_id": ObjectId(), "username": f"sales{i + 1}", "username_key": f"sales{i + 1}",
        "email": f"sales{i + 1}@demo.example", "password_hash": password_hash,
        "first_name": rng.choice(FIRST_NAMES), "last_name": rng.choice(LAST_NAMES), "phone": _phone(rng),
        "role": "sales", "is_active": True, "version": 1, "created_at": now, "updated_at": now,
    } for i in range(count)]


def _company(rng, index, now):
    name = f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_KINDS)} {index + 1}"
    domain = name.lower().replace(" ", "-") + ".example"
    return {
        "_id": ObjectId(), "name": name, "name_key": name.lower(), "domain": domain,
        "search_terms": sorted(set(words(name) + words(domain) + [domain])),
        "industry": rng.choice(INDUSTRIES), "size": rng.choice(["1-10", "11-50", "51-200", "201-1000", "1000+"]),
        "phone": _phone(rng), "website": f"https://{domain}", "address": {"city": rng.choice(REGIONS),
                                                                          "country": "MA"},
        "notes": None, "tags": rng.sample(TAGS, 1), "version": 1, "created_at": now, "updated_at": now,
    }


def _interactions(rng, count, staff_ids, created_at, now):
    items = []
    span = max(1, int((now - created_at).total_seconds()))
    for _ in range(count):
        occurred_at = created_at + timedelta(seconds=rng.randint(0, span))
        occurred_at = occurred_at.replace(microsecond=0)
        kind = rng.choice(TYPES)
        follow_up = rng.random() < 0.15
        items.append({
            "id": ObjectId(), "type": kind, "subject": rng.choice(SUBJECTS),
            "notes": f"{rng.choice(SUBJECTS)}: discussed next steps.", "employee_id": rng.choice(staff_ids),
            "employee_comment": rng.choice([None, "Price-sensitive", "Prefers WhatsApp", "Decision maker"]),
            "occurred_at": occurred_at, "duration_minutes": rng.choice([None, 5, 15, 30, 60]),
            "status": "completed", "location": None, "follow_up_required": follow_up,
            "follow_up_date": occurred_at + timedelta(days=rng.randint(1, 30)) if follow_up else None,
            "created_at": occurred_at, "updated_at": occurred_at,
        })
    # A few meetings ahead, so /interactions/upcoming has something to show.
    if rng.random() < 0.1:
        when = (now + timedelta(days=rng.randint(1, 25), hours=rng.randint(8, 17))).replace(microsecond=0,
                                                                                            minute=0, second=0)
        items.append({
            "id": ObjectId(), "type": "meeting", "subject": "Planning meeting", "notes": "Agenda to be confirmed.",
            "employee_id": rng.choice(staff_ids), "employee_comment": None, "occurred_at": when,
            "duration_minutes": 45, "status": "scheduled", "location": "Office", "follow_up_required": False,
            "follow_up_date": None, "created_at": now, "updated_at": now,
        })
    items.sort(key=lambda item: (item["occurred_at"], item["id"]), reverse=True)
    return items


def _products(now):
    return [{
        "_id": ObjectId(), "sku": sku, "name": name, "name_key": fold(name).strip(),
        "search_terms": sorted(set(words(name) + words(sku) + [sku.lower()])), "description": None,
        "price": to_stored(to_decimal(price)), "currency": "MAD", "is_active": True, "version": 1,
        "created_at": now, "updated_at": now,
    } for sku, name, price in PRODUCTS]


def _sales(rng, customer, products, now):
    """A few sales for customers who buy (active, or once active), on dates weighted by season.

    Drawn from their own generator, so adding sales left every other demo record as it was.
    """
    if customer["status"] not in ("active", "inactive", "churned") or rng.random() < 0.25:
        return []
    span = max(1, int((now - customer["created_at"]).total_seconds()))
    sales, wanted = [], rng.randint(1, 6)
    while len(sales) < wanted:
        sale_date = (customer["created_at"] + timedelta(seconds=rng.randint(0, span))).replace(microsecond=0)
        if rng.random() * max(MONTH_WEIGHTS) > MONTH_WEIGHTS[sale_date.month - 1]:
            continue
        product, quantity = rng.choice(products), rng.choice([1, 1, 1, 2, 2, 3, 4, 10])
        sales.append({
            "_id": ObjectId(), "customer_id": customer["_id"], "product_id": product["_id"], "quantity": quantity,
            "unit_price": product["price"], "currency": product["currency"],
            "amount": to_stored(to_decimal(product["price"]) * quantity), "sale_date": sale_date,
            "employee_id": customer["owner_id"], "version": 1, "created_at": sale_date, "updated_at": sale_date,
        })
    return sales


def _initial_status(status, index):
    """The status a demo customer was created with (reports count leads/prospects turned active).

    Derived from the index, not the random generator, so the rest of the demo data stays as it was:
    two thirds of active customers came in as leads or prospects; inactive and churned ones had been active.
    """
    if status == "active":
        return ("lead", "prospect", "active")[index % 3]
    return "active" if status in ("inactive", "churned") else status


def _customer(rng, index, companies, staff_ids, average_interactions, embed_limit, now):
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    company = rng.choice(companies) if companies and rng.random() < 0.6 else None
    created_at = (now - timedelta(days=rng.randint(1, 720), seconds=rng.randint(0, 86400))).replace(microsecond=0)
    history = _interactions(rng, rng.randint(0, average_interactions * 2), staff_ids, created_at, now)
    embedded, archived = history[:embed_limit], history[embed_limit:]
    done = [item["occurred_at"] for item in history if item["status"] != "scheduled"]
    email_name = re.sub(r"[^a-z.]", "", fold(f"{first}.{last}"))
    document = {
        "_id": ObjectId(), "first_name": first, "last_name": last,
        "email": f"{email_name}.{index + 1}@demo.example", "phone": _phone(rng),
        "company_id": company["_id"] if company else None, "company_name": company["name"] if company else None,
        "company_terms": words(company["name"]) if company else [],
        "contact_type": "corporate" if company else "individual", "status": _pick(rng, STATUS_WEIGHTS),
        "loyalty_status": _pick(rng, LOYALTY_WEIGHTS), "tags": rng.sample(TAGS, rng.randint(0, 2)),
        "nationality": rng.choice(["Moroccan", "French", "Spanish", "British", "German"]),
        "region": rng.choice(REGIONS), "preferred_language": rng.choice(["fr", "ar", "en", "es"]),
        "notes": None, "owner_id": rng.choice(staff_ids), "is_active": rng.random() > 0.03,
        "last_interaction_at": max(done) if done else None,
        "activity_key": max(map(item_key, history)) if history else None,
        "interactions": embedded, "embedded_count": len(embedded), "archived_count": len(archived),
        "interaction_count": len(history), "version": 1, "created_at": created_at,
        "updated_at": max([created_at] + done),
    }
    document["initial_status"] = _initial_status(document["status"], index)
    document.update(derived_fields(document))
    return document, [{**item, "customer_id": document["_id"]} for item in archived]


def seed_demo(db, *, customers, companies, staff, interactions, seed, batch_size, embed_limit, progress):
    """Insert demo data; `progress(total, label)` returns a context manager with update(n)."""
    rng = random.Random(seed)
    now = utcnow()
    staff_docs = _staff(rng, max(1, staff), now)
    counts = {"staff": _insert(db.users, staff_docs)}
    staff_ids = [user["_id"] for user in staff_docs]
    company_docs = [_company(rng, index, now) for index in range(companies)]
    counts["companies"] = _insert(db.companies, company_docs) if company_docs else 0
    product_docs = _products(now)
    counts["products"] = _insert(db.products, product_docs)
    sales_rng = random.Random(f"{seed}-sales")
    counts["customers"] = counts["interactions"] = counts["archived_interactions"] = counts["sales"] = 0
    with progress(customers, "customers") as bar:
        for start in range(0, customers, batch_size):
            batch, archive = [], []
            for index in range(start, min(customers, start + batch_size)):
                document, archived = _customer(rng, index, company_docs, staff_ids, interactions, embed_limit, now)
                batch.append(document)
                archive.extend(archived)
            counts["customers"] += _insert(db.customers, batch)
            sales = [sale for document in batch for sale in _sales(sales_rng, document, product_docs, now)]
            if sales:
                counts["sales"] += _insert(db.sales, sales)
            counts["interactions"] += sum(document["interaction_count"] for document in batch)
            if archive:
                counts["archived_interactions"] += _insert(db.interaction_archive, archive)
            bar.update(len(batch))
    return counts
