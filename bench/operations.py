"""The operations `make bench` measures: where each is served by the service and by the floor app."""
from dataclasses import dataclass

# Words that start customers' names in the demo data (crm_service/services/demo.py), and one
# two-word query that must match a name and an email word: the search rotates through them.
SEARCH_TERMS = ("hassan", "fatima", "smith", "emma", "martin", "youssef", "garcia", "noah", "amina benali",
                "omar.tazi")


@dataclass(frozen=True)
class Operation:
    key: str
    label: str
    method: str
    service_path: str  # may hold {id} (a customer id) or {term} (a search term)
    floor_path: str | None
    script: str  # bench/lua/<script>
    # The operation's own minimum of database round trips (SPEC targets); authentication may add one.
    min_round_trips: int | None
    not_built: str | None = None  # why the operation cannot be measured yet
    compares_records: bool = True  # the bench checks the floor answers the same record ids

    @property
    def rotates_over(self):
        if "{id}" in self.service_path:
            return "id"
        if "{term}" in self.service_path:
            return "term"
        return None

    def paths(self, template, ids, terms):
        if self.rotates_over == "id":
            return [template.format(id=value) for value in ids]
        if self.rotates_over == "term":
            return [template.format(term=value.replace(" ", "+")) for value in terms]
        return [template]


OPERATIONS = (
    Operation("customer_by_id", "customer by id", "GET", "/api/v1/customers/{id}", "/customers/{id}",
              "get.lua", 1),
    Operation("customer_list", "customer list page", "GET", "/api/v1/customers?page=1&size=20",
              "/customers?page=1&size=20", "get.lua", 2),
    Operation("customer_list_nocount", "customer list, count=false", "GET", "/api/v1/customers?size=20&count=false",
              "/customers?size=20&count=false", "get.lua", 1),
    Operation("customer_search", "search by name/email", "GET", "/api/v1/customers?q={term}&size=20",
              "/customers?q={term}&size=20", "get.lua", 2),
    Operation("create_customer", "create customer", "POST", "/api/v1/customers", "/customers",
              "create_customer.lua", 1),
    Operation("add_interaction", "add interaction", "POST", "/api/v1/customers/{id}/interactions",
              "/customers/{id}/interactions", "add_interaction.lua", 1),
    Operation("history", "interaction history page", "GET", "/api/v1/customers/{id}/interactions?size=20",
              "/customers/{id}/interactions?size=20", "get.lua", 2),
    Operation("feed", "all-customers interaction feed", "GET", "/api/v1/interactions?size=20",
              "/interactions?size=20", "get.lua", 2),
    Operation("feed_nocount", "feed, count=false", "GET", "/api/v1/interactions?size=20&count=false",
              "/interactions?size=20&count=false", "get.lua", 1),
    # SPEC sets no minimum for the report: its round trips are shown (the 11-13 queries of
    # ReportRepository), not judged. It answers figures, not records, so there are no ids to compare.
    Operation("reports_summary", "reports summary", "GET", "/api/v1/reports/summary", "/reports/summary",
              "get.lua", None, compares_records=False),
)


def select(keys):
    """The operations named in `keys` (all when empty), in catalogue order; unknown names are an error."""
    if not keys:
        return list(OPERATIONS)
    known = {operation.key for operation in OPERATIONS}
    unknown = sorted(set(keys) - known)
    if unknown:
        raise ValueError(f"unknown operation(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return [operation for operation in OPERATIONS if operation.key in keys]
