"""Readiness: can we reach the database and the artifact store?"""

from __future__ import annotations

from sqlalchemy import text

from api.state import AppState


def check_ready(state: AppState) -> str | None:
    """None when database and store answer, else a message naming what is down."""
    try:
        with state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return f"database not reachable: {type(exc).__name__}: {exc}"
    try:
        state.store.ping()
    except Exception as exc:
        return f"store not reachable: {exc}"
    return None
