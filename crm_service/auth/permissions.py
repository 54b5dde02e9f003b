"""Permission names (`crm:<action>:<resource>`) and what each role is granted (SPEC §4)."""

ROLES = ("admin", "sales", "customer")
STAFF_ROLES = ("admin", "sales")
ACTIONS = ("read", "create", "update", "delete")
RESOURCES = (
    "users", "customers", "companies", "interactions", "tickets", "opportunities", "products",
    "sales", "feedback", "segments", "reports", "analytics", "emails", "audit",
)


def _all(resource):
    return {f"crm:{action}:{resource}" for action in ACTIONS}


def _some(resource, *actions):
    return {f"crm:{action}:{resource}" for action in actions}


ROLE_PERMISSIONS = {
    "admin": set().union(*(_all(resource) for resource in RESOURCES if resource != "audit"))
    | _some("audit", "read"),
    "sales": (
        _some("customers", "read", "create", "update")
        | _some("companies", "read", "create", "update")
        | _all("interactions")
        | _all("tickets")
        | _all("opportunities")
        | _some("products", "read")
        | _all("sales")
        | _some("feedback", "read", "update")
        | _some("segments", "read", "create", "update")
        | _some("reports", "read")
        | _some("analytics", "read")
        | _some("emails", "read", "create")
    ),
    # Customer users are further confined to their own record by the views.
    "customer": (
        _some("customers", "read", "update")
        | _some("companies", "read")
        | _some("interactions", "read")
        | _some("tickets", "create", "read", "update")
        | _some("feedback", "create", "read")
    ),
}


def permissions_for(role):
    return sorted(ROLE_PERMISSIONS.get(role, ()))
