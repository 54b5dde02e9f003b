"""One blueprint per resource; register_blueprints() mounts them all."""


def register_blueprints(app):
    from . import (
        analytics,
        audit,
        auth,
        companies,
        customer_insights,
        customers,
        emails,
        feedback,
        health,
        interactions,
        opportunities,
        password_reset,
        products,
        reports,
        sales,
        segments,
        sync,
        tickets,
        users,
    )

    # customer_insights before customers: its static paths (/customers/export) are plain routes either way.
    for module in (health, auth, password_reset, users, companies, customer_insights, customers, interactions,
                   tickets, opportunities, products, sales, feedback, segments, reports, analytics, emails,
                   sync, audit):
        # A module may mount more than one blueprint (emails: /emails and the public pixel /t).
        for blueprint in getattr(module, "blueprints", (module.bp,)):
            app.register_blueprint(blueprint)
