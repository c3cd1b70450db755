"""One rule for reading a project's row by id: another project's row reads as missing (404)."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlmodel import Session

from api.errors import NotFound

Row = TypeVar("Row", bound=Any)


def get_owned(session: Session, table: type[Row], project_id: str, row_id: str, *, kind: str, param: str) -> Row:
    """Row ``row_id`` of ``table`` when ``project_id`` owns it; else 404 ``No such {kind} object: {row_id}``."""
    row = session.get(table, row_id)
    if row is None or row.project_id != project_id:
        raise NotFound.object(kind, row_id, param=param)
    return row
