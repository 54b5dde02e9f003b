"""Authentication and authorization: passwords, tokens, roles and permissions."""
