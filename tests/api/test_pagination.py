"""Keyset pages: every row exactly once in both orders, also when timestamps tie."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.errors import InvalidRequest
from api.pagination import CursorPage, Order
from api.schemas.files import FileObject
from api.services.files import list_files, register_file
from api.services.keys import ensure_project


def _make_files(engine: Engine, n: int) -> list[str]:
    made = []
    with Session(engine) as session:
        ensure_project(session, "p")
        ensure_project(session, "q")
        for i in range(n):
            row = register_file(
                session,
                file_id=f"file-{i:04d}x",
                project_id="p",
                purpose="fine-tune",
                filename="f",
                nbytes=1,
                sha256=None,
            )
            row.created_at = 1_700_000_000 + i // 4  # four files per second: ties resolved by seq
            made.append(row.id)
        register_file(
            session,
            file_id="file-of-q",
            project_id="q",
            purpose="fine-tune",
            filename="f",
            nbytes=1,
            sha256=None,
        )
        session.commit()
    return made


def _walk(engine: Engine, order: Order, limit: int) -> list[str]:
    seen: list[str] = []
    after = None
    with Session(engine) as session:
        while True:
            page: CursorPage[FileObject] = list_files(
                session, "p", after=after, limit=limit, order=order, purpose=None
            )
            seen += [f.id for f in page.data]
            assert page.first_id == (page.data[0].id if page.data else None)
            assert page.last_id == (page.data[-1].id if page.data else None)
            if not page.has_more:
                return seen
            after = page.last_id


@pytest.mark.parametrize("limit", [1, 3, 4, 7, 100])
def test_every_row_once(engine: Engine, limit: int) -> None:
    made = _make_files(engine, 17)
    assert _walk(engine, "asc", limit) == made
    assert _walk(engine, "desc", limit) == made[::-1]


def test_bad_cursor(engine: Engine) -> None:
    _make_files(engine, 2)
    with Session(engine) as session, pytest.raises(InvalidRequest) as err:
        list_files(session, "p", after="file-of-q", limit=10, order="desc", purpose=None)
    assert err.value.param == "after"
