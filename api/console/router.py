"""Mount the console's static files: ``/`` is the single page, ``/console/*`` its assets."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).with_name("static")


def install_console(app: FastAPI) -> None:
    """Serve ``index.html`` at ``/`` and the scripts and styles under ``/console/``.

    The page routes with the URL fragment (``/#/jobs/ftjob-…``), so one route serves every view.
    """

    @app.get("/", include_in_schema=False)
    def console_index() -> FileResponse:
        """The console's page (200)."""
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/console", StaticFiles(directory=STATIC), name="console")
