"""Only ``scheduler.jobs`` writes ``Job.status``: every other module goes through its functions.

An AST scan of the server packages: an assignment to ``<something job>.status``, a
``setattr(job, "status", ...)`` or an ``update(Job).values(status=...)`` anywhere but in
``scheduler/jobs.py`` fails the test, naming the file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("api", "scheduler", "core", "gpu_worker", "sdk")
THE_ONE_PLACE = Path("scheduler/jobs.py")


def _mentions_job(node: ast.AST) -> bool:
    return "job" in ast.unparse(node).lower()


def status_writes(path: Path) -> list[int]:
    """Lines of ``path`` that write a job's status directly."""
    tree = ast.parse(path.read_text(), filename=str(path))
    lines: list[int] = []
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for target in targets:
            for sub in ast.walk(target):
                if isinstance(sub, ast.Attribute) and sub.attr == "status" and _mentions_job(sub.value):
                    lines.append(node.lineno)
        if isinstance(node, ast.Call):
            func = node.func
            if (isinstance(func, ast.Name) and func.id == "setattr" and len(node.args) >= 2
                    and isinstance(node.args[1], ast.Constant) and node.args[1].value == "status"
                    and _mentions_job(node.args[0])):
                lines.append(node.lineno)
            if (isinstance(func, ast.Attribute) and func.attr == "values"
                    and any(k.arg == "status" for k in node.keywords) and "update(Job" in ast.unparse(func.value)):
                lines.append(node.lineno)
    return lines


def test_only_scheduler_jobs_writes_job_status() -> None:
    found: dict[str, list[int]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            lines = status_writes(path)
            if lines:
                found[path.relative_to(ROOT).as_posix()] = lines
    assert THE_ONE_PLACE.as_posix() in found, "the scan no longer sees the one legitimate write"
    others = {k: v for k, v in found.items() if k != THE_ONE_PLACE.as_posix()}
    assert not others, f"Job.status written outside {THE_ONE_PLACE} (use scheduler.jobs.change_status): {others}"


def test_the_scan_catches_each_form(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "job.status = 'running'\n"
        "self.job.status = 'queued'\n"
        "setattr(job, 'status', 'failed')\n"
        "session.exec(update(Job).where(Job.id == x).values(status='cancelled'))\n"
        "file.status = 'processed'\n"
        "job_status = 'x'\n"
    )
    assert status_writes(sample) == [1, 2, 3, 4]
