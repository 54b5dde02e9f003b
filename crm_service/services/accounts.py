"""Accounts that span collections: self-registration (user + customer), own profile, the first admin."""
import logging

from bson import ObjectId
from flask import current_app
from marshmallow import ValidationError
from pymongo.errors import DuplicateKeyError

from crm_service.auth.passwords import check_password, hash_password
from crm_service.config import ConfigError
from crm_service.db import get_db
from crm_service.errors import Conflict
from crm_service.repositories.companies import CompanyRepository
from crm_service.repositories.customers import CustomerRepository
from crm_service.repositories.users import UserRepository

log = logging.getLogger("crm_service.accounts")
IN_USE = "This value is already in use."
PROFILE_SYNC_ATTEMPTS = 3


def user_conflict(users, username=None, email=None, exclude_id=None):
    """The 409 for a unique-index clash on users, naming the fields that are taken."""
    taken = users.taken_fields(username=username, email=email, exclude_id=exclude_id)
    fields = taken or [name for name, value in (("username", username), ("email", email)) if value]
    return Conflict("A user with this username or email already exists", {field: [IN_USE] for field in fields})


def _company_for(name):
    """(company, created) for a company name: an existing one by case-insensitive name, else a new one."""
    if not name or not name.strip():
        return None, False
    companies = CompanyRepository(get_db())
    company = companies.find_by_name(name)
    if company is not None:
        return company, False
    try:
        return companies.create({"name": name.strip(), "tags": []}), True
    except DuplicateKeyError:
        return companies.find_by_name(name), False  # created by a concurrent request


def register_customer(data):
    """Create a `customer` login and its customer record, or nothing at all.

    The user goes in first (its unique indexes settle username and email), then the customer
    record under an id chosen up front; if that second insert clashes, the first is undone.
    """
    db = get_db()
    users, customers = UserRepository(db), CustomerRepository(db)
    customer_id = ObjectId()
    try:
        user = users.create({
            "username": data["username"],
            "email": data["email"],
            "password_hash": hash_password(data["password"]),
            "first_name": data["first_name"],
            "last_name": data.get("last_name"),
            "phone": data.get("phone"),
            "role": "customer",
            "customer_id": customer_id,
        })
    except DuplicateKeyError as exc:
        raise user_conflict(users, data["username"], data["email"]) from exc
    company, company_created = _company_for(data.get("company"))
    try:
        customer = customers.create({
            "_id": customer_id,
            "user_id": user["_id"],
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
        }, company)
    except DuplicateKeyError as exc:
        users.delete(user["_id"])
        if company_created:
            CompanyRepository(db).delete(company["_id"], detach=False)  # only if nobody linked it meanwhile
        raise Conflict("A customer with this email already exists", {"email": [IN_USE]}) from exc
    return user, customer


def update_profile(user_id, changes):
    """Change a user's own names and phone; a customer user's customer record follows."""
    db = get_db()
    users = UserRepository(db)
    if not changes:
        return users.get(user_id)
    user = users.update(user_id, changes)
    if user is not None and user.get("customer_id"):
        _sync_customer(CustomerRepository(db), user["customer_id"], changes)
    return user


def _sync_customer(customers, customer_id, changes):
    # The customer record may be changed concurrently by staff; retry on a version clash.
    for _ in range(PROFILE_SYNC_ATTEMPTS):
        current = customers.get(customer_id)
        if current is None or customers.update(customer_id, changes, current) is not None:
            return
    log.warning("profile change not copied to customer record %s", customer_id)


def prepare_login_checks():
    """Hash the stand-in password now, so the first login for an unknown user costs what any other does.

    A login for an unknown user checks the password against that stand-in hash (of the configured
    cost); built lazily, the first such login would take two bcrypt runs and stand out.
    """
    check_password("", None)


def create_admin(username, email, password, first_name=None, last_name=None):
    """Store a new admin; invalid values raise ValidationError, a taken username or email DuplicateKeyError."""
    from crm_service.schemas.users import UserCreateSchema

    data = UserCreateSchema().load({
        "username": username, "email": email, "password": password, "role": "admin",
        **({"first_name": first_name} if first_name is not None else {}),
        **({"last_name": last_name} if last_name is not None else {}),
    })
    return UserRepository(get_db()).create({
        "username": data["username"],
        "email": data["email"],
        "password_hash": hash_password(data["password"]),
        "first_name": data.get("first_name"),
        "last_name": data.get("last_name"),
        "phone": None,
        "role": "admin",
        "is_active": True,
    })


def bootstrap_admin():
    """Create the admin named by CRM_BOOTSTRAP_ADMIN_* when no admin exists yet."""
    config = current_app.config
    email, password = config.get("CRM_BOOTSTRAP_ADMIN_EMAIL"), config.get("CRM_BOOTSTRAP_ADMIN_PASSWORD")
    if not email and not password:
        return None
    if not email or not password:
        raise ConfigError("CRM_BOOTSTRAP_ADMIN_EMAIL and CRM_BOOTSTRAP_ADMIN_PASSWORD must be set together")
    users = UserRepository(get_db())
    if users.admin_exists():
        return None
    try:
        user = create_admin(config.get("CRM_BOOTSTRAP_ADMIN_USERNAME") or "admin", email, password)
    except ValidationError as exc:
        # Field names only: the messages never repeat the password, but keep it that way.
        raise ConfigError(f"CRM_BOOTSTRAP_ADMIN_* settings are invalid: {sorted(exc.messages)}") from exc
    except DuplicateKeyError:
        if not users.admin_exists():
            log.warning("bootstrap admin not created: its username or email belongs to another user")
        return None  # otherwise another worker created it first
    log.info("bootstrap admin created", extra={"user_id": str(user["_id"])})
    return user
