"""One blueprint per resource; register_blueprints() mounts them all."""


def register_blueprints(app):
    from . import (
        auth,
        companies,
        customer_insights,
        customers,
        feedback,
        health,
        interactions,
        opportunities,
        products,
        sales,
        segments,
        tickets,
        users,
    )

    # customer_insights before customers: its static paths (/customers/export) are plain routes either way.
    for module in (health, auth, users, companies, customer_insights, customers, interactions, tickets,
                   opportunities, products, sales, feedback, segments):
        app.register_blueprint(module.bp)
