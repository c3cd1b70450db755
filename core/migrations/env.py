"""Alembic environment: runs against the engine handed over by core.db."""

from alembic import context
from sqlmodel import SQLModel

import core.tables  # noqa: F401  (registers the tables)

config = context.config
engine = config.attributes.get("engine")
target_metadata = SQLModel.metadata

if engine is None:
    context.configure(url="sqlite://", target_metadata=target_metadata, render_as_batch=True)
else:
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
