"""SalesOS's own state in one database: SQLite under SALESOS_HOME by default, PostgreSQL in production."""

from connector.store.engine import Store, close_stores, database_url, insert_for, open_store

__all__ = ["Store", "close_stores", "database_url", "insert_for", "open_store"]
