"""The README as a new user meets it: its shell and Python blocks run as written.

The blocks run from a fresh working directory that holds what a clone holds (``docs/``) and the
installed virtual environment as ``.venv`` (the one running these tests), against the
``openft serve`` that the README's own line starts. The only change to the text: the port, since
8000 may be taken on a test machine (``OPENFT_PORT`` for the server, the URL in the blocks).
Lines that install or run the test suite itself are listed in :data:`NOT_RUN` with the reason;
any other line of a shell block must run.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from live_server import free_port, stop_process, wait_for_port
from safety_nets import safety_net

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SERVE = ".venv/bin/openft serve"
NOT_RUN = {
    "python3 -m venv .venv && .venv/bin/pip install -e '.[gpu,plot]'": "installs from the network; "
    "the blocks run in the environment that runs this test",
    "bash .ci/run": "the test suite itself",
    '.venv/bin/pytest -q -m "not slow"': "the test suite itself",
    ".venv/bin/pytest tests/compat -q": "the test suite itself",
}
#: ids the reader substitutes (the "More" and migrate blocks): their commands have tests of their own
WITH_PLACEHOLDERS = ("ft:tiny-chat:default:demo:abcd1234", "ft:gpt-4o-mini-2024-07-18:acme:support:abc123")


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README.read_text(), flags=re.S | re.M)


def command(line: str) -> str:
    """A shell line without its trailing comment."""
    return re.sub(r"\s+#\s.*$", "", line).strip()


def test_every_shell_line_is_run_or_said_why_not() -> None:
    lines = [command(line) for block in blocks("bash") for line in block.splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    assert SERVE in lines and set(NOT_RUN) <= set(lines)
    runnable = [b for b in blocks("bash") if _runnable(b)]
    assert len(runnable) == 1 and len(blocks("python")) == 1  # the CLI block and the quick start


def _runnable(block: str) -> bool:
    return not any(command(line) in NOT_RUN or command(line) == SERVE or any(p in line for p in WITH_PLACEHOLDERS)
                   for line in block.splitlines())


@pytest.fixture
def user_dir(tmp_path: Path) -> Path:
    """A working directory like a clone's root, with the installed environment as ``.venv``."""
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    (tmp_path / "docs").symlink_to(ROOT / "docs")
    return tmp_path


def test_the_readme_runs_as_written(user_dir: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENFT_", "VIRTUAL_ENV"))}
    env.update(PYTHONPATH=str(ROOT), OPENFT_PORT=str(port))

    def here(text: str) -> str:
        return text.replace("127.0.0.1:8000", f"127.0.0.1:{port}")

    log = (user_dir / "serve.log").open("w")  # a file, not a pipe nobody drains while the server runs
    server = subprocess.Popen(["bash", "-c", SERVE], cwd=user_dir, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, timeout=safety_net(30))
        quick_start = subprocess.run([sys.executable, "-c", here(blocks("python")[0])], cwd=user_dir, env=env,
                                     capture_output=True, text=True, timeout=safety_net(120))
        assert quick_start.returncode == 0, quick_start.stderr
        status, model = quick_start.stdout.splitlines()[0].split()
        assert status == "succeeded" and model.startswith("ft:tiny-chat:default:demo:")
        assert quick_start.stdout.strip().splitlines()[-1]  # the fine-tuned model answered

        cli_block = next(b for b in blocks("bash") if _runnable(b))
        cli = subprocess.run(["bash", "-euo", "pipefail", "-c", here(cli_block)], cwd=user_dir, env=env,
                             capture_output=True, text=True, timeout=safety_net(150))
        assert cli.returncode == 0, cli.stdout[-3000:] + cli.stderr[-3000:]
        assert re.search(r"ftjob-\w+: succeeded -> ft:tiny-chat:default:cli:\w{8}", cli.stdout)
        assert (user_dir / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (user_dir / "merged" / "config.json").is_file()
        assert list((user_dir / "merged").glob("*.safetensors"))
    finally:
        stop_process(server, signal.SIGINT)
        log.close()
    out = (user_dir / "serve.log").read_text()
    key = (user_dir / "openft-data" / "api_key").read_text().strip()
    assert "openft: created an admin API key (kept in openft-data/api_key)" in out and key in out
