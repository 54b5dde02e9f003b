"""Property-based bad input on every documented JSON body and query string: always a 4xx in the one error
shape, the offending field named in a 422, and the database exactly as it was.

Driven by the app's /openapi.json (new operations join automatically). Junk: MongoDB operators as values and
as keys (`{"$ne": null}`, `{"$where": "1"}`, `field[$ne]=`), nested junk, oversize strings and lists, wrong
types, repeated parameters. Derandomized with a fixed number of examples per operation, so it runs in
bounded time. The `rate_limits` collection is left out of the before/after comparison: counting requests is
its job (off in TestConfig anyway); idempotency keys only appear with an Idempotency-Key header, which these
requests never send, and audit entries only for accepted writes, so both stay in the comparison.
"""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.campaign_world import World
from tests.api.openapi_walk import Document, fill_path, is_bounded_string

EXAMPLES_PER_OPERATION = 12
CHANGES_PER_REQUEST = ("rate_limits",)
OPERATORS = ("$ne", "$gt", "$where", "$regex", "$in", "$exists", "$expr", "$set")
OVERSIZE = 20_001
COUNTS = {"examples": 0, "operations": set()}

_WORLD = World()
DOCUMENT = Document(_WORLD.client.get("/openapi.json").get_json())


def _operations(kind):
    found = []
    for method, path, operation in DOCUMENT.operations():
        if kind == "body" and DOCUMENT.json_body(operation) is not None:
            found.append((method, path))
        if kind == "query" and DOCUMENT.query_parameters(operation):
            found.append((method, path))
    return found


BODY_OPERATIONS = _operations("body")
QUERY_OPERATIONS = _operations("query")

leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5), st.just(".*"), st.just("1"))
operator_dict = st.dictionaries(st.sampled_from(OPERATORS), st.recursive(
    leaf, lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(OPERATORS + ("a", "b")), children, max_size=3), max_leaves=6), min_size=1, max_size=3)
# Never valid for any field: an object of operators, or a non-empty list holding one (at any depth).
container_junk = st.one_of(
    operator_dict,
    st.lists(st.one_of(operator_dict, st.lists(operator_dict, min_size=1, max_size=2)), min_size=1, max_size=3),
)


def _wrong_types(prop):
    kind = prop.get("type")
    if kind == "string" and prop.get("format") != "decimal":
        return [7, 2.5, True, ["x"]]
    if kind == "string":  # money: a decimal string or number
        return [True, "twelve", ["1.00"]]
    if kind in ("integer", "number"):
        return ["seven", [1], True] if kind == "integer" else ["seven", [1]]
    if kind == "boolean":
        return ["maybe", 2, [True]]
    if kind == "array":
        return ["x", 5, {"a": 1}]
    return ["x", 5, [1]]


@st.composite
def bad_bodies(draw, schema):
    """(body, name of the key that must be rejected)."""
    properties = {name: DOCUMENT.resolve(prop) for name, prop in (schema.get("properties") or {}).items()}
    mode = draw(st.sampled_from(("operator-key", "junk-value", "oversize", "wrong-type"))
                if properties else st.just("operator-key"))
    if mode == "operator-key":
        key = draw(st.sampled_from(OPERATORS))
        return {key: draw(st.one_of(leaf, container_junk))}, key
    name = draw(st.sampled_from(sorted(properties)))
    prop = properties[name]
    if mode == "junk-value":
        value = draw(container_junk)
    elif mode == "oversize":
        value = draw(st.sampled_from(["x" * OVERSIZE, ["a"] * 1001, "é" * OVERSIZE]))
    else:
        value = draw(st.sampled_from(_wrong_types(prop)))
    return {name: value}, name


@st.composite
def bad_queries(draw, parameters):
    """(query string as a list of pairs, name of the parameter that must be rejected)."""
    by_name = {parameter["name"]: DOCUMENT.resolve(parameter.get("schema", {})) for parameter in parameters}
    name = draw(st.sampled_from(sorted(by_name)))
    schema = by_name[name]
    typed = schema.get("type") != "string" or is_bounded_string(schema) and not schema.get("maxLength")
    modes = ["bracket", "operator-key", "oversize"]
    if typed and schema.get("type") != "array":
        modes.append("typed-junk")
    if schema.get("type") != "array":
        modes.append("repeated")
    mode = draw(st.sampled_from(modes))
    operator = draw(st.sampled_from(OPERATORS))
    if mode == "bracket":
        key = f"{name}[{operator}]"
        return [(key, draw(st.sampled_from(["x", "", "1", ".*"])))], key
    if mode == "operator-key":
        return [(operator, "1")], operator
    if mode == "oversize":
        if schema.get("type") == "array":
            return [(name, "a")] * ((schema.get("maxItems") or 1000) + 1), name
        return [(name, "x" * ((schema.get("maxLength") or OVERSIZE) + 1))], name
    if mode == "typed-junk":
        return [(name, draw(st.sampled_from(['{"$ne": null}', "$where", "[object Object]", "1e999x"])))], name
    value = "1" if schema.get("type") in ("integer", "number") else "a"
    return [(name, value), (name, value)], name


@pytest.fixture(scope="module")
def world():
    _WORLD.reset()
    return _WORLD


def _check(world, method, path, before, response, rejected):
    COUNTS["examples"] += 1
    assert 400 <= response.status_code < 500, (method, path, rejected, response.status_code,
                                              response.get_data(as_text=True)[:300])
    body = response.get_json()
    assert body["status"] == response.status_code and body["code"] and body["message"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    if response.status_code == 422:
        assert rejected in (body.get("errors") or {}), (method, path, rejected, body)
    assert world.snapshot(CHANGES_PER_REQUEST) == before, (method, path, rejected, "the database changed")


@pytest.mark.parametrize(("method", "path"), BODY_OPERATIONS, ids=[f"{m} {p}" for m, p in BODY_OPERATIONS])
def test_bad_json_bodies_are_4xx_and_change_nothing(world, method, path):
    operation = DOCUMENT.spec["paths"][path][method.lower()]
    url = fill_path(path, world.path_values())
    before = world.snapshot(CHANGES_PER_REQUEST)
    COUNTS["operations"].add((method, path, "body"))

    @settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(bad_bodies(DOCUMENT.json_body(operation)))
    def run(case):
        body, rejected = case
        response = world.client.open(url, method=method, json=body, headers=world.headers())
        _check(world, method, path, before, response, rejected)

    run()


@pytest.mark.parametrize(("method", "path"), QUERY_OPERATIONS, ids=[f"{m} {p}" for m, p in QUERY_OPERATIONS])
def test_bad_query_strings_are_4xx_and_change_nothing(world, method, path):
    operation = DOCUMENT.spec["paths"][path][method.lower()]
    url = fill_path(path, world.path_values())
    before = world.snapshot(CHANGES_PER_REQUEST)
    COUNTS["operations"].add((method, path, "query"))
    # Bodies that are otherwise acceptable would hide nothing here: the query string alone must be rejected.
    body = {} if DOCUMENT.json_body(operation) is not None else None

    @settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(bad_queries(DOCUMENT.query_parameters(operation)))
    def run(case):
        pairs, rejected = case
        response = world.client.open(url, method=method, query_string=pairs, json=body, headers=world.headers())
        _check(world, method, path, before, response, rejected)

    run()


def test_the_campaign_ran_every_operation():
    """Reports the size of the run (printed with -s); checks it only when the whole module ran."""
    expected = len(BODY_OPERATIONS) + len(QUERY_OPERATIONS)
    print(f"\nbad-input properties: {len(COUNTS['operations'])} operation inputs, {COUNTS['examples']} examples")
    if len(COUNTS["operations"]) == expected:
        assert COUNTS["examples"] >= expected * 3
