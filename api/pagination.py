"""Cursor pages as OpenAI returns them: ``{object:"list", data, first_id, last_id, has_more}``.

``after=<id>`` means "the items strictly after that id in the order this list is returned",
which is what the official client sends when it follows pages (``after=data[-1].id``). Paging is
keyset-based on the list's sort columns (e.g. ``created_at, seq``), so concurrent inserts never
shift a page. An ``after`` id that the list does not contain (another project's, a typo) is a 400
naming ``after``.

Usage in a service::

    stmt = select(File).where(File.project_id == project_id)
    rows, has_more = paginate(session, stmt, File, sort=(File.created_at, File.seq),
                              after=after, limit=limit, order=order)
    return CursorPage[FileObject](data=[...], has_more=has_more)   # ids filled in
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import Query
from pydantic import BaseModel, model_validator
from sqlalchemy import and_, or_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session
from sqlmodel.sql.expression import SelectOfScalar

from api.errors import InvalidRequest

T = TypeVar("T")
Order = Literal["asc", "desc"]

#: Query parameter aliases for routers; the bounds give a 400 naming the parameter.
AfterQuery = Annotated[str | None, Query(description="return items strictly after this id")]
OrderQuery = Annotated[Order, Query(description="asc (oldest first) or desc (newest first)")]


def limit_query(maximum: int) -> Any:
    """``Annotated[int, limit_query(100)] = 20``: a ``limit`` between 1 and ``maximum``
    (400 naming ``limit`` otherwise)."""
    return Query(ge=1, le=maximum, description=f"page size, 1-{maximum}")


class CursorPage(BaseModel, Generic[T]):
    """One page of a list; ``first_id``/``last_id`` follow ``data``."""

    object: Literal["list"] = "list"
    data: list[T]
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool

    @model_validator(mode="after")
    def _ids(self) -> CursorPage[T]:
        if self.data:
            self.first_id, self.last_id = _item_id(self.data[0]), _item_id(self.data[-1])
        else:
            self.first_id = self.last_id = None
        return self


def _item_id(item: Any) -> str:
    """The id of a page item: a schema object or an already rendered dict."""
    return str(item["id"] if isinstance(item, dict) else item.id)


def _after_clause(columns: Sequence[Any], values: Sequence[Any], descending: bool) -> ColumnElement[bool]:
    """Rows strictly after ``values`` in lexicographic order of ``columns``."""
    clauses = []
    for i, col in enumerate(columns):
        equal = [c == v for c, v in zip(columns[:i], values[:i], strict=True)]
        beyond = col < values[i] if descending else col > values[i]
        clauses.append(and_(*equal, beyond))
    return or_(*clauses)


def paginate(
    session: Session,
    stmt: SelectOfScalar[Any],
    table: Any,
    *,
    sort: Sequence[Any],
    after: str | None,
    limit: int,
    order: Order = "desc",
    id_column: Any = None,
) -> tuple[list[Any], bool]:
    """``limit`` rows of ``stmt`` after the row with id ``after``, and whether more follow.

    ``stmt`` selects ``table`` rows already filtered (project, purpose…); ``sort`` are the
    columns that order the list, ending with a unique tie-breaker; ``id_column`` defaults to
    ``table.id``. The cursor row is looked up within ``stmt``, so ids outside the list are
    rejected rather than silently restarting from the top.
    """
    if limit < 1:
        raise InvalidRequest("limit must be at least 1", param="limit", code="invalid_value")
    if order not in ("asc", "desc"):
        raise InvalidRequest("order must be 'asc' or 'desc'", param="order", code="invalid_value")
    id_col = id_column if id_column is not None else table.id
    descending = order == "desc"
    if after is not None:
        cursor = session.exec(stmt.where(id_col == after)).first()
        if cursor is None:
            raise InvalidRequest(f"No such object to page after: {after}", param="after",
                                 code="invalid_value")
        values = [getattr(cursor, col.key) for col in sort]
        stmt = stmt.where(_after_clause(sort, values, descending))
    stmt = stmt.order_by(*[col.desc() if descending else col.asc() for col in sort]).limit(limit + 1)
    rows = list(session.exec(stmt).all())
    return rows[:limit], len(rows) > limit
