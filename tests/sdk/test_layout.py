"""The SDK holds no server code: it imports nothing from api/, scheduler/ or gpu_worker/, and its
client commands run where the server packages cannot be imported at all."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVER_PACKAGES = ("api", "scheduler", "gpu_worker")


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_sdk_imports_nothing_from_the_server_packages() -> None:
    offenders = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in (ROOT / "sdk").rglob("*.py")
        for name in _imported_modules(path)
        if name.split(".")[0] in SERVER_PACKAGES
    }
    assert not offenders


def _openft_without_server(*argv: str) -> subprocess.CompletedProcess[str]:
    """``openft ARGV`` in an interpreter where api, scheduler, gpu_worker and core cannot be imported."""
    blocked = ", ".join(repr(p) for p in (*SERVER_PACKAGES, "core"))
    code = (f"import sys\nfor name in ({blocked}):\n    sys.modules[name] = None\n"
            "from sdk.cli.main import main\nsys.exit(main(sys.argv[1:]))")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("OPENFT_")}, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code, *argv], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_client_commands_work_without_the_server_packages() -> None:
    done = _openft_without_server("files", "list", "--api-key", "sk-x", "--base-url", "http://127.0.0.1:9")
    assert done.returncode == 1 and "cannot reach the openft server" in done.stderr


def test_a_server_command_without_the_server_side_says_what_to_install() -> None:
    done = _openft_without_server("serve")
    assert done.returncode == 2
    assert "openft serve: the server side of openft cannot be imported here" in done.stderr
    assert "pip install 'openft[gpu]'" in done.stderr and "Traceback" not in done.stderr
