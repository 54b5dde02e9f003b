"""Reading the app's /openapi.json for the bad-input campaign: operations, body properties, query parameters."""
import re


class Document:
    def __init__(self, spec):
        self.spec = spec

    def resolve(self, schema):
        while "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[1]
            schema = self.spec["components"]["schemas"][name]
        return schema

    def operations(self):
        """(method, path, operation) for every documented operation, in a stable order."""
        for path, item in sorted(self.spec["paths"].items()):
            for method, operation in sorted(item.items()):
                yield method.upper(), path, operation

    def json_body(self, operation):
        """The resolved JSON body schema of an operation, or None."""
        content = (operation.get("requestBody") or {}).get("content", {})
        schema = content.get("application/json", {}).get("schema")
        return None if schema is None else self.resolve(schema)

    def query_parameters(self, operation):
        return [parameter for parameter in operation.get("parameters", []) if parameter["in"] == "query"]

    def walk_properties(self, schema, prefix=()):
        """(path of names, property schema) for every property, nested objects and array items included."""
        for name, prop in (schema.get("properties") or {}).items():
            prop = self.resolve(prop)
            yield (*prefix, name), prop
            if prop.get("readOnly"):
                continue  # written by the service only: a client sending it gets 422 whatever is inside
            if prop.get("type") == "object" or "properties" in prop:
                yield from self.walk_properties(prop, (*prefix, name))
            if prop.get("type") == "array":
                items = self.resolve(prop.get("items", {}))
                if "properties" in items:
                    yield from self.walk_properties(items, (*prefix, name, "[]"))


def fill_path(path, values):
    """`/customers/{customer_id}` with the given values (a made-up id for names not given)."""
    return re.sub(r"{([^}]+)}", lambda match: values.get(match.group(1), "5f0000000000000000000000"), path)


def is_bounded_string(schema):
    """A string the docs bound: a length, a set of values, a pattern or a fixed format."""
    return bool(schema.get("maxLength") or schema.get("enum") or schema.get("pattern")
                or schema.get("format") in ("date-time", "date", "decimal", "binary"))
