"""Marshmallow schemas, one module per resource; every payload in and out goes through one."""
