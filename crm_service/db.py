"""The per-process MongoClient, get_db(), and the index catalogue with ensure_indexes()."""
import os

from flask import current_app
from pymongo import ASCENDING, DESCENDING, IndexModel, MongoClient
from pymongo.database import Database

EXTENSION_KEY = "crm_mongo"

# Every query the repositories run has an index here that serves its filter and sort.
INDEXES = {
    "users": [
        IndexModel([("username_key", ASCENDING)], unique=True, name="username_unique"),
        IndexModel([("email", ASCENDING)], unique=True, name="email_unique"),
        IndexModel([("role", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="role_created"),
    ],
    "sessions": [
        IndexModel([("user_id", ASCENDING)], name="user"),
        # Revoked and spent logins are kept until their refresh token would have expired.
        IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expires_ttl"),
    ],
    "login_failures": [
        IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expires_ttl"),
    ],
    # Rate-limit windows are read by _id only; each document goes when its window ends.
    "rate_limits": [
        IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expires_ttl"),
    ],
    "companies": [
        IndexModel([("name_key", ASCENDING)], unique=True, name="name_unique"),
        IndexModel([("created_at", DESCENDING), ("_id", DESCENDING)], name="created"),
        IndexModel([("name_key", ASCENDING), ("_id", ASCENDING)], name="name_sort"),
        IndexModel([("search_terms", ASCENDING)], name="search_terms"),
        IndexModel([("industry", ASCENDING), ("created_at", DESCENDING)], name="industry"),
        IndexModel([("tags", ASCENDING)], name="tags"),
        IndexModel([("updated_at", DESCENDING), ("_id", DESCENDING)], name="updated"),
    ],
    "customers": [
        IndexModel([("email", ASCENDING)], unique=True, name="email_unique"),
        IndexModel([("user_id", ASCENDING)], unique=True, sparse=True, name="user_unique"),
        IndexModel([("is_active", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="active_created"),
        IndexModel([("is_active", ASCENDING), ("updated_at", DESCENDING), ("_id", DESCENDING)], name="active_updated"),
        IndexModel(
            [("is_active", ASCENDING), ("last_name_key", ASCENDING), ("_id", ASCENDING)], name="active_last_name",
        ),
        IndexModel(
            [("is_active", ASCENDING), ("last_interaction_at", DESCENDING), ("_id", DESCENDING)],
            name="active_last_interaction",
        ),
        IndexModel([("company_id", ASCENDING), ("is_active", ASCENDING), ("created_at", DESCENDING)], name="company"),
        # `q`, `name`, `email`, `phone`: a word is one equality on the stored prefixes (repositories/customers.py),
        # so the page in created_at order is one range of this index, read in order (no in-memory sort).
        IndexModel(
            [("search_prefixes", ASCENDING), ("is_active", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
            name="search",
        ),
        IndexModel([("company_terms", ASCENDING), ("is_active", ASCENDING)], name="company_terms"),
        IndexModel([("status", ASCENDING), ("is_active", ASCENDING), ("created_at", DESCENDING)], name="status"),
        IndexModel([("owner_id", ASCENDING), ("is_active", ASCENDING), ("created_at", DESCENDING)], name="owner"),
        IndexModel([("tags", ASCENDING), ("is_active", ASCENDING)], name="tags"),
        # The feed walks customers by their newest (time, id) first; see repositories/interactions.py.
        IndexModel([("activity_key", DESCENDING), ("_id", DESCENDING)], name="activity_key"),
        IndexModel(
            [("interactions.status", ASCENDING), ("interactions.occurred_at", ASCENDING)],
            name="interaction_status_time",
        ),
        IndexModel(
            [("interactions.follow_up_required", ASCENDING), ("interactions.follow_up_date", ASCENDING)],
            name="interaction_follow_ups",
        ),
        IndexModel([("interactions.id", ASCENDING)], name="interaction_id"),
        # Audit entries waiting in a document's outbox (repositories/audit.py): only those documents are indexed.
        IndexModel([("audit_outbox._id", ASCENDING)], name="audit_outbox",
                   partialFilterExpression={"audit_outbox._id": {"$exists": True}}),
    ],
    # Ticket numbers come from the `counters` collection, read by _id only (its own index): no entry.
    "tickets": [
        IndexModel([("number", ASCENDING)], unique=True, name="number_unique"),
        IndexModel([("created_at", DESCENDING), ("_id", DESCENDING)], name="created"),
        IndexModel([("updated_at", DESCENDING), ("_id", DESCENDING)], name="updated"),
        IndexModel([("seq", ASCENDING), ("_id", ASCENDING)], name="number_sort"),
        IndexModel([("priority_rank", ASCENDING), ("_id", ASCENDING)], name="priority_sort"),
        IndexModel([("customer_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="customer"),
        IndexModel([("status", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="status"),
        IndexModel([("priority", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="priority"),
        IndexModel([("assignee_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="assignee"),
        IndexModel([("search_terms", ASCENDING)], name="search_terms"),
        # Reports: tickets resolved in a window (and the median time to resolve them).
        IndexModel([("resolved_at", DESCENDING)], name="resolved_at"),
    ],
    "opportunities": [
        IndexModel([("created_at", DESCENDING), ("_id", DESCENDING)], name="created"),
        IndexModel([("updated_at", DESCENDING), ("_id", DESCENDING)], name="updated"),
        IndexModel([("expected_close_date", ASCENDING), ("_id", ASCENDING)], name="close_date"),
        IndexModel([("stage", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="stage"),
        IndexModel([("stage", ASCENDING), ("expected_close_date", ASCENDING), ("_id", ASCENDING)], name="stage_close"),
        IndexModel([("owner_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="owner"),
        IndexModel([("customer_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="customer"),
        # Reports: deals won or lost in a window (the win rate).
        IndexModel([("closed_at", DESCENDING)], name="closed_at"),
    ],
    "products": [
        IndexModel([("sku", ASCENDING)], unique=True, name="sku_unique"),
        IndexModel([("sku", ASCENDING), ("_id", ASCENDING)], name="sku_sort"),
        IndexModel([("name_key", ASCENDING), ("_id", ASCENDING)], name="name"),
        IndexModel([("is_active", ASCENDING), ("name_key", ASCENDING), ("_id", ASCENDING)], name="active_name"),
        IndexModel([("created_at", DESCENDING), ("_id", DESCENDING)], name="created"),
        IndexModel([("updated_at", DESCENDING), ("_id", DESCENDING)], name="updated"),
        IndexModel([("search_terms", ASCENDING)], name="search_terms"),
    ],
    "sales": [
        IndexModel([("sale_date", DESCENDING), ("_id", DESCENDING)], name="sale_date"),
        IndexModel([("customer_id", ASCENDING), ("sale_date", DESCENDING), ("_id", DESCENDING)], name="customer"),
        IndexModel([("product_id", ASCENDING), ("sale_date", DESCENDING), ("_id", DESCENDING)], name="product"),
        IndexModel([("employee_id", ASCENDING), ("sale_date", DESCENDING), ("_id", DESCENDING)], name="employee"),
        IndexModel([("created_at", DESCENDING), ("_id", DESCENDING)], name="created"),
        IndexModel([("updated_at", DESCENDING), ("_id", DESCENDING)], name="updated"),
    ],
    # Lists sort by submitted_at (or rating); each filter has its own index leading to that order.
    "feedback": [
        IndexModel([("submitted_at", DESCENDING), ("_id", DESCENDING)], name="submitted"),
        IndexModel([("customer_id", ASCENDING), ("submitted_at", DESCENDING), ("_id", DESCENDING)], name="customer"),
        IndexModel([("service_type", ASCENDING), ("submitted_at", DESCENDING), ("_id", DESCENDING)], name="service"),
        IndexModel([("resolved", ASCENDING), ("submitted_at", DESCENDING), ("_id", DESCENDING)], name="resolved"),
        IndexModel([("sentiment", ASCENDING), ("submitted_at", DESCENDING), ("_id", DESCENDING)], name="sentiment"),
        IndexModel([("rating", ASCENDING), ("submitted_at", DESCENDING), ("_id", DESCENDING)], name="rating"),
        IndexModel([("rating", ASCENDING), ("_id", ASCENDING)], name="rating_sort"),
        IndexModel([("booking_id", ASCENDING), ("submitted_at", DESCENDING)], name="booking"),
        IndexModel([("updated_at", DESCENDING), ("_id", DESCENDING)], name="updated"),
    ],
    "segments": [
        IndexModel([("name_key", ASCENDING)], unique=True, name="name_unique"),
        IndexModel([("name_key", ASCENDING), ("_id", ASCENDING)], name="name_sort"),
        IndexModel([("created_at", DESCENDING), ("_id", DESCENDING)], name="created"),
        IndexModel([("customer_count", DESCENDING), ("_id", DESCENDING)], name="count_sort"),
        IndexModel([("updated_at", DESCENDING), ("_id", DESCENDING)], name="updated"),
    ],
    "tombstones": [
        IndexModel([("deleted_at", ASCENDING), ("_id", ASCENDING)], name="deleted_at"),
        IndexModel([("customer_id", ASCENDING), ("deleted_at", ASCENDING)], name="customer"),
        # GET /sync/deleted?entity=...: one entity's tombstones in (deleted_at, _id) order.
        IndexModel([("entity", ASCENDING), ("deleted_at", ASCENDING), ("_id", ASCENDING)], name="entity_deleted_at"),
    ],
    # Idempotency-Key records: one per (user, method, path, key) hash; gone after IDEMPOTENCY_TTL_SECONDS.
    "idempotency_keys": [
        IndexModel([("scope", ASCENDING)], unique=True, name="scope_unique"),
        IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expires_ttl"),
    ],
    # GET /audit is newest first (at, _id) under each filter; entity_id alone is selective (an ObjectId).
    "audit_log": [
        IndexModel([("at", DESCENDING), ("_id", DESCENDING)], name="at"),
        IndexModel([("entity", ASCENDING), ("at", DESCENDING), ("_id", DESCENDING)], name="entity"),
        IndexModel([("entity_id", ASCENDING), ("at", DESCENDING), ("_id", DESCENDING)], name="entity_id"),
        IndexModel([("actor_id", ASCENDING), ("at", DESCENDING), ("_id", DESCENDING)], name="actor"),
        IndexModel([("action", ASCENDING), ("at", DESCENDING), ("_id", DESCENDING)], name="action"),
        # A privacy erasure rewrites every entry about the person.
        IndexModel([("subject_ids", ASCENDING)], name="subjects"),
    ],
    # The pixel finds its email by token alone; lists sort by created_at, sent_at or updated_at under each filter.
    "emails": [
        IndexModel([("tracking_token", ASCENDING)], unique=True, name="tracking_token_unique"),
        IndexModel([("created_at", DESCENDING), ("_id", DESCENDING)], name="created"),
        IndexModel([("sent_at", DESCENDING), ("_id", DESCENDING)], name="sent"),
        IndexModel([("updated_at", DESCENDING), ("_id", DESCENDING)], name="updated"),
        IndexModel([("customer_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="customer"),
        IndexModel([("status", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="status"),
        # Reports and open_rate: sent mail in a window.
        IndexModel([("status", ASCENDING), ("sent_at", DESCENDING), ("_id", DESCENDING)], name="status_sent"),
        # A privacy erasure also removes mail sent to the person's address without a customer_id.
        IndexModel([("to", ASCENDING)], name="to"),
    ],
    "password_resets": [
        IndexModel([("token_hash", ASCENDING)], unique=True, name="token_hash_unique"),
        IndexModel([("user_id", ASCENDING), ("expires_at", DESCENDING)], name="user"),
        IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expires_ttl"),
    ],
    "interaction_archive": [
        IndexModel([("customer_id", ASCENDING), ("occurred_at", DESCENDING), ("id", DESCENDING)], name="history"),
        IndexModel([("id", ASCENDING)], unique=True, name="interaction_id"),
        IndexModel([("occurred_at", DESCENDING), ("id", DESCENDING)], name="feed"),
        IndexModel([("status", ASCENDING), ("occurred_at", ASCENDING)], name="status_time"),
        # /interactions/upcoming: archived meetings by type and status, soonest first (filter and sort).
        IndexModel(
            [("type", ASCENDING), ("status", ASCENDING), ("occurred_at", ASCENDING), ("id", ASCENDING)],
            name="type_status_time",
        ),
        IndexModel([("follow_up_required", ASCENDING), ("follow_up_date", ASCENDING)], name="follow_ups"),
    ],
}


def make_client(config, socket_timeout_ms=None):
    """A client that connects lazily, so it is safe to build before gunicorn forks.

    Every wait is short, so an outage is a 503 within seconds (errors.py) rather than a hung worker: choosing
    a server, opening a connection, a reply on a socket, and a free connection in a busy pool. Retryable
    reads and writes are the driver's defaults; the URI may turn writes off for a server without sessions.
    The driver finds the server again by itself when it comes back. `socket_timeout_ms=0` (no limit) is for
    batch commands, whose bulk writes may take long.
    """
    return MongoClient(
        config["MONGO_URI"],
        connect=False,
        serverSelectionTimeoutMS=config["MONGO_SERVER_SELECTION_TIMEOUT_MS"],
        connectTimeoutMS=config["MONGO_CONNECT_TIMEOUT_MS"],
        socketTimeoutMS=config["MONGO_SOCKET_TIMEOUT_MS"] if socket_timeout_ms is None else socket_timeout_ms or None,
        waitQueueTimeoutMS=config["MONGO_SERVER_SELECTION_TIMEOUT_MS"],
        maxPoolSize=config["MONGO_MAX_POOL_SIZE"],
        w="majority",
        tz_aware=True,
        appname="crm-service",
    )


class CachedDatabase(Database):
    """A Database that makes each Collection once: `db.customers` is asked for on every request.

    pymongo builds a new Collection (options, codec, a new object) on each attribute access; the
    collections of one Database never change their options, so one object per name serves them all.
    Only plain names are cached; `get_collection(...)` with options still builds a fresh one.
    """

    def __init__(self, client, name):
        super().__init__(client, name)
        self._collections = {}

    def __getitem__(self, name):
        collection = self._collections.get(name)
        if collection is None:
            collection = self._collections[name] = super().__getitem__(name)
        return collection


class MongoHandle:
    """Holds this process's client; a forked child builds its own on first use."""

    def __init__(self, config, client=None):
        self._config = config
        self._client = client
        self._pid = os.getpid() if client is not None else None
        self._owned = client is None
        self._db = None  # the Database of the current client, made once (views ask for it several times)

    @property
    def client(self):
        if self._client is None or (self._owned and self._pid != os.getpid()):
            self._client = make_client(self._config)
            self._pid = os.getpid()
            self._db = None
        return self._client

    @property
    def db(self):
        client = self.client
        database = self._db
        if database is None or database.client is not client:
            name = self._config["MONGO_DB_NAME"]
            database = self._db = CachedDatabase(client, name) if isinstance(client, MongoClient) else client[name]
        return database

    def close(self):
        if self._client is not None and self._owned:
            self._client.close()
            self._client = None
            self._db = None


def init_app(app, client=None):
    app.extensions[EXTENSION_KEY] = MongoHandle(app.config, client)


def close_client(app):
    app.extensions[EXTENSION_KEY].close()


def get_db(app=None):
    app = app or current_app
    return app.extensions[EXTENSION_KEY].db


# Indexes that earlier versions made and nothing uses any more: ensure_indexes drops them where found.
RETIRED_INDEXES = {
    "customers": (
        "activity",  # the feed's walk by activity_at, replaced by activity_key
        "search_terms",  # regex prefixes of the search words, replaced by equality on search_prefixes ("search")
    ),
}


def ensure_indexes(db):
    """Create every index in the catalogue, run the data migrations not run yet, then drop retired indexes.

    Returns {collection: [names created or already there]}. The migrations run before the drops, so the
    retired index serves the old queries until the data the new one needs is in place.
    """
    from .repositories.customers import backfill_search_prefixes
    from .repositories.interactions import backfill_activity_keys

    created = {}
    for collection, models in INDEXES.items():
        created[collection] = db[collection].create_indexes(models)
    backfill_activity_keys(db)
    backfill_search_prefixes(db)
    for collection, names in RETIRED_INDEXES.items():
        present = set(db[collection].index_information())
        for name in names:
            if name in present:
                db[collection].drop_index(name)
    return created


def recheck_migrations(db):
    """After a rolling upgrade: the data migrations again over the customers written since their last run
    or re-check (by workers of the previous version, which do not write the new fields).

    Returns {migration: customers updated}. `crm ensure-indexes --recheck` runs it once the last old
    worker has stopped; a migration not run yet runs in full.
    """
    from .repositories.customers import PREFIX_MIGRATION, backfill_search_prefixes
    from .repositories.interactions import MIGRATION, backfill_activity_keys

    return {MIGRATION: backfill_activity_keys(db, recheck=True),
            PREFIX_MIGRATION: backfill_search_prefixes(db, recheck=True)}
