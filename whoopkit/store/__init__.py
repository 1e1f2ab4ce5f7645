"""The local history store (SQLAlchemy Core over SQLite or PostgreSQL, migrated with Alembic)."""

from whoopkit.store.schema import COLLECTIONS, HEAD_REVISION, Collection
from whoopkit.store.store import (
    CollectionStatus,
    ImportCounts,
    JournalRow,
    ScoreVersion,
    Store,
    StoreStatus,
    SyncState,
    Upserted,
    from_ms,
    to_ms,
)

__all__ = [
    "COLLECTIONS",
    "HEAD_REVISION",
    "Collection",
    "CollectionStatus",
    "ImportCounts",
    "JournalRow",
    "ScoreVersion",
    "Store",
    "StoreStatus",
    "SyncState",
    "Upserted",
    "from_ms",
    "to_ms",
]
