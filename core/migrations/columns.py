"""Column and index helpers for the migrations in ``versions/`` (0003 onwards): one line per column,
in the types SQLModel declares for the tables in ``core.tables``.

Revisions import them as ``from core.migrations.columns import ...``; a helper here never changes
meaning once a released revision uses it (a revision must build the same schema for ever).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

#: an autoincrement ``seq`` key: BIGINT on PostgreSQL, SQLite's INTEGER rowid alias
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def text(name: str, length: int, nullable: bool = False) -> sa.Column[Any]:
    """A ``VARCHAR(length)`` column, as SQLModel declares a ``str`` field with ``max_length``."""
    return sa.Column(name, AutoString(length=length), nullable=nullable)


def col(name: str, type_: Any, nullable: bool = False) -> sa.Column[Any]:
    """A column of ``type_`` (``sa.Integer()``, ``sa.JSON()``, ...)."""
    return sa.Column(name, type_, nullable=nullable)


def seq() -> sa.Column[Any]:
    """The autoincrement ``seq`` primary key of an append-only table."""
    return sa.Column('seq', SEQ, autoincrement=True, nullable=False)


def claim() -> list[sa.Column[Any]]:
    """The lease columns of a row that a background runner claims (attempts, claimed_at)."""
    return [col('attempts', sa.Integer()), col('claimed_at', sa.Float(), True)]


def fk(column: str, target: str) -> sa.ForeignKeyConstraint:
    """``FOREIGN KEY (column) REFERENCES target`` (``"table.column"``)."""
    return sa.ForeignKeyConstraint([column], [target])


def index(table: str, name: str, columns: list[str], unique: bool = False) -> None:
    """Create index ``name`` on ``table``."""
    op.create_index(name, table, columns, unique=unique)
