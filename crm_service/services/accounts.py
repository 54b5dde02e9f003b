"""Accounts that span collections: self-registration (user + customer) and the first admin."""
import logging

from flask import current_app
from pymongo.errors import DuplicateKeyError

from crm_service.auth.passwords import hash_password
from crm_service.db import get_db
from crm_service.errors import Conflict
from crm_service.repositories.companies import CompanyRepository
from crm_service.repositories.customers import CustomerRepository
from crm_service.repositories.users import UserRepository

log = logging.getLogger("crm_service.accounts")


def register_customer(data):
    """Create a customer record and its `customer` login together; undo the first if the second fails."""
    db = get_db()
    users, customers, companies = UserRepository(db), CustomerRepository(db), CompanyRepository(db)
    company = None
    if data.get("company"):
        company = companies.find_by_name(data["company"])
        if company is None:
            try:
                company = companies.create({"name": data["company"].strip(), "tags": []})
            except DuplicateKeyError:
                company = companies.find_by_name(data["company"])
    customer_fields = {
        "first_name": data["first_name"],
        "last_name": data.get("last_name"),
        "email": data["email"],
        "phone": data.get("phone"),
        "contact_type": "individual",
        "status": "lead",
        "loyalty_status": "new",
        "tags": [],
        "preferred_language": current_app.config["DEFAULT_LANGUAGE"],
        "is_active": True,
        "owner_id": None,
    }
    try:
        customer = customers.create(customer_fields, company)
    except DuplicateKeyError as exc:
        raise Conflict("An account with this email already exists", {"email": ["This value is already in use."]}) \
            from exc
    try:
        user = users.create({
            "username": data["username"],
            "email": data["email"],
            "password_hash": hash_password(data["password"]),
            "first_name": data["first_name"],
            "last_name": data.get("last_name"),
            "phone": data.get("phone"),
            "role": "customer",
            "customer_id": customer["_id"],
        })
    except DuplicateKeyError:
        customers.delete_hard(customer["_id"])
        raise
    db.customers.update_one({"_id": customer["_id"]}, {"$set": {"user_id": user["_id"]}})
    customer["user_id"] = user["_id"]
    return user, customer


def create_admin(username, email, password, first_name=None, last_name=None):
    return UserRepository(get_db()).create({
        "username": username,
        "email": email.strip().lower(),
        "password_hash": hash_password(password),
        "first_name": first_name,
        "last_name": last_name,
        "phone": None,
        "role": "admin",
    })


def bootstrap_admin():
    """Create the admin named by CRM_BOOTSTRAP_ADMIN_* when no admin exists yet."""
    config = current_app.config
    email, password = config.get("CRM_BOOTSTRAP_ADMIN_EMAIL"), config.get("CRM_BOOTSTRAP_ADMIN_PASSWORD")
    if not email or not password:
        return None
    users = UserRepository(get_db())
    if users.admin_exists():
        return None
    try:
        user = create_admin(config["CRM_BOOTSTRAP_ADMIN_USERNAME"], email, password)
    except DuplicateKeyError:
        return None  # another worker created it first
    log.info("bootstrap admin created", extra={"user_id": str(user["_id"])})
    return user
