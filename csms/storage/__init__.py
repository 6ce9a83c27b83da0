"""Storage: a small `Database` interface (SQLite, PostgreSQL) and the repositories above it."""

from __future__ import annotations

from dataclasses import dataclass

from csms.storage.database import Database, DatabaseError, Row, Stmt, open_database
from csms.storage.stations import EventStore, IdTagStore, StationStore
from csms.storage.transactions import TransactionStore


@dataclass(frozen=True)
class Store:
    """The repositories of the core domain, sharing one database."""

    db: Database
    stations: StationStore
    transactions: TransactionStore
    events: EventStore
    id_tags: IdTagStore

    @classmethod
    def on(cls, db: Database) -> Store:
        return cls(db, StationStore(db), TransactionStore(db), EventStore(db), IdTagStore(db))


__all__ = ["Database", "DatabaseError", "Row", "Stmt", "Store", "open_database"]
