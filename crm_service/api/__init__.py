"""One blueprint per resource; register_blueprints() mounts them all."""


def register_blueprints(app):
    from . import auth, companies, customers, health, interactions, users

    for module in (health, auth, users, companies, customers, interactions):
        app.register_blueprint(module.bp)
