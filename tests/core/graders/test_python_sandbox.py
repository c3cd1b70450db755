"""The python grader's sandbox: real graders score, and escape attempts end as scored errors.

All cases run concurrently in one event loop (as a service would run them), so the file takes a
few seconds; each case then checks its own flags, details and side effects.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.graders import GradeResult, GraderSpecError, Sample, grade, parse_grader
from core.graders.sandbox import sandbox_available
from core.settings import Settings

pytestmark = pytest.mark.skipif(sys.platform != "linux" or not sandbox_available(),
                                reason="this host cannot build the python grader sandbox")

SECRET = "s3cr3t-" + "x" * 8


@dataclass
class Case:
    name: str
    source: str
    reward: float = 0.0
    flag: str | None = None  # the error flag that must be set (None: no error at all)
    detail: str | None = None  # text the runtime error details (or server error type) must contain


@pytest.fixture
def listener() -> Iterator[tuple[socket.socket, int]]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    srv.setblocking(False)
    yield srv, srv.getsockname()[1]
    srv.close()


def cases(data_dir: Path, port: int) -> list[Case]:
    me = os.getpid()
    rt, srv = "python_grader_runtime_error", "python_grader_server_error"
    return [
        Case("scores", "def grade(sample, item):\n    return 0.25 if item['a'] == 'yes' else 0", 0.25),
        Case("numpy-float", "import numpy as np\ndef grade(sample, item):\n    return np.float32(0.5)", 0.5),
        Case("output-json", "def grade(s, i):\n    return s['output_json']['v'] / 4", 0.75),
        Case("prints-a-lot", "def grade(s, i):\n    print('x' * 20_000_000)\n    return 1.0", 1.0),
        Case("sees-no-environment",
             "import os\ndef grade(s, i):\n    return float(len(os.environ.get('OPENFT_SECRET_TOKEN', '')))", 0.0),
        Case("read-data-dir", f"def grade(s, i):\n    return len(open({str(data_dir / 'openft.db')!r}).read())",
             flag=rt, detail="FileNotFoundError"),
        Case("list-data-dir", f"import os\ndef grade(s, i):\n    return len(os.listdir({str(data_dir)!r}))",
             flag=rt, detail="FileNotFoundError"),
        Case("server-environ", f"def grade(s, i):\n    return len(open('/proc/{me}/environ').read())",
             flag=rt, detail="FileNotFoundError"),
        Case("self-environ", "def grade(s, i):\n    return len(open('/proc/self/environ').read())",
             flag=rt, detail="FileNotFoundError"),
        Case("etc-passwd", "def grade(s, i):\n    return len(open('/etc/passwd').read())", flag=rt,
             detail="FileNotFoundError"),
        Case("write-system-dir", "def grade(s, i):\n    open('/usr/evil', 'w').write('x')\n    return 1.0", flag=rt,
             detail="Error"),
        Case("import-socket", "import socket\ndef grade(s, i):\n    return 1.0", flag=rt, detail="not allowed"),
        Case("import-subprocess", "def grade(s, i):\n    import subprocess\n    return 1.0", flag=rt,
             detail="not allowed"),
        # past the import guard (importlib's own __import__): the network namespace still says no
        Case("connect-localhost", "import builtins, importlib\ndef grade(s, i):\n"
             "    builtins.__import__ = importlib.__import__\n    import socket\n"
             f"    socket.create_connection(('127.0.0.1', {port}), timeout=1)\n    return 1.0", flag=rt,
             detail="unreachable"),
        Case("os-system", "import os\ndef grade(s, i):\n    os.system('echo hi')\n    return 1.0", flag=rt,
             detail="AttributeError"),
        Case("kill-the-server", f"import posix\ndef grade(s, i):\n    posix.kill({me}, 9)\n    return 1.0", flag=rt,
             detail="ProcessLookupError"),
        Case("fork-bomb", "import posix\ndef grade(s, i):\n    while True:\n        posix.fork()", flag=None),
        Case("thread-bomb", "import threading, time\ndef grade(s, i):\n    for _ in range(500):\n"
             "        threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n    return 1.0",
             flag=rt, detail="thread"),
        Case("memory-bomb", "def grade(s, i):\n    b = []\n    while True:\n        b.append(bytearray(50_000_000))",
             flag=rt, detail="MemoryError"),
        Case("one-huge-allocation", "def grade(s, i):\n    return len(bytearray(10**11))", flag=rt,
             detail="MemoryError"),
        Case("disk-filler", "def grade(s, i):\n    with open('/tmp/big', 'wb') as f:\n"
             "        for _ in range(100):\n            f.write(b'x' * 1_000_000)\n    return 1.0", flag=rt,
             detail="Error"),
        Case("infinite-loop", "def grade(s, i):\n    while True:\n        pass", flag=srv, detail="timeout"),
        Case("sleeps-forever", "import time\ndef grade(s, i):\n    time.sleep(3600)", flag=srv, detail="timeout"),
        Case("recursion", "def grade(s, i):\n    return grade(s, i)", flag=rt, detail="RecursionError"),
        Case("sys-exit", "import sys\ndef grade(s, i):\n    sys.exit(0)", flag=rt, detail="SystemExit"),
        Case("hard-exit", "import os\ndef grade(s, i):\n    os._exit(0)", flag=srv, detail="no_result"),
        Case("returns-str", "def grade(s, i):\n    return '1.0'", flag=rt, detail="returned str"),
        Case("returns-none", "def grade(s, i):\n    pass", flag=rt, detail="returned NoneType"),
        Case("returns-bool", "def grade(s, i):\n    return True", flag=rt, detail="returned bool"),
        Case("returns-nan", "def grade(s, i):\n    return float('nan')", flag=rt, detail="finite"),
        Case("raises", "def grade(s, i):\n    raise KeyError('missing')", flag=rt, detail="KeyError"),
        Case("forges-result", "import os\ndef grade(s, i):\n    for fd in range(3, 8):\n        try:\n"
             "            os.write(fd, b'x' * 300_000)\n        except OSError:\n            pass\n    return 1.0",
             flag="truncated_observation_error"),
    ]


def check(case: Case, result: GradeResult) -> str | None:
    """What is wrong with ``result`` for ``case`` (None: as expected)."""
    set_flags = sorted(k for k, v in result.errors.items() if v)
    text = " ".join(result.details.values())
    if SECRET in text:
        return f"{case.name}: the secret leaked into {result.details}"
    if case.name == "fork-bomb":  # ends as an error of one kind or another, never a hang
        return None if set_flags and result.reward == 0.0 else f"{case.name}: {set_flags} {result.reward}"
    if case.flag is None:
        if set_flags or result.reward != pytest.approx(case.reward):
            return f"{case.name}: {set_flags} {result.details} reward {result.reward} != {case.reward}"
        return None
    if case.flag not in set_flags or result.reward != 0.0:
        return f"{case.name}: expected {case.flag}, got {set_flags} {result.details}"
    if case.detail and case.detail not in text:
        return f"{case.name}: {case.detail!r} not in {result.details}"
    return None


async def test_python_graders_score_and_every_escape_is_a_scored_error(
    tmp_path: Path, listener: tuple[socket.socket, int], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENFT_SECRET_TOKEN", SECRET)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "openft.db").write_text(SECRET)
    settings = Settings(data_dir=data_dir, python_grader_timeout_seconds=2, python_grader_memory_mib=256,
                        python_grader_max_output_bytes=100_000, python_grader_concurrency=6)
    table = cases(data_dir, listener[1])

    async def run(case: Case) -> GradeResult:
        grader = parse_grader({"type": "python", "name": case.name, "source": case.source}, settings)
        return await grade(grader, item={"a": "yes"}, sample=Sample.from_text('{"v": 3}'), settings=settings)

    started = time.monotonic()
    results = await asyncio.gather(*(run(c) for c in table))
    assert time.monotonic() - started < 60
    problems = [p for case, result in zip(table, results, strict=True) if (p := check(case, result))]
    assert problems == []
    with pytest.raises(BlockingIOError):
        listener[0].accept()  # nobody connected


def test_python_grader_source_is_checked_when_parsed() -> None:
    for source, why in [("def grade(:", "does not compile"), ("x = 1", "must define a function grade")]:
        with pytest.raises(GraderSpecError) as err:
            parse_grader({"type": "python", "name": "p", "source": source})
        assert err.value.param == "source" and why in err.value.message


async def test_the_probe_works_from_inside_an_event_loop() -> None:
    # parse_grader(spec, settings) asks for the sandbox from request handlers, inside the loop
    sandbox_available.cache_clear()
    assert sandbox_available() is True


async def test_unicode_and_json_round_trip_through_the_sandbox() -> None:
    source = "def grade(sample, item):\n    return float(sample['output_text'] == item['city'] and item['n'] == [1, 2])"
    settings = Settings(python_grader_timeout_seconds=5)
    result = await grade(parse_grader({"type": "python", "name": "u", "source": source}, settings),
                         item={"city": "Köln – 東京 🚀", "n": [1, 2]}, sample=Sample.from_text("Köln – 東京 🚀"),
                         settings=settings)
    assert (result.reward, result.failed) == (1.0, False)


def _host_without_namespaces(monkeypatch: pytest.MonkeyPatch) -> None:
    import core.graders.sandbox as sandbox

    monkeypatch.setattr(sandbox, "sandbox_available", lambda: False)


def test_without_namespaces_python_graders_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    _host_without_namespaces(monkeypatch)
    with pytest.raises(GraderSpecError) as err:
        parse_grader({"type": "python", "name": "p", "source": "def grade(s, i):\n    return 1"}, Settings())
    assert err.value.param == "type" and "OPENFT_PYTHON_GRADER_ALLOW_UNSANDBOXED" in err.value.message


async def test_operator_may_allow_unsandboxed_graders(monkeypatch: pytest.MonkeyPatch) -> None:
    _host_without_namespaces(monkeypatch)
    monkeypatch.setenv("OPENFT_SECRET_TOKEN", SECRET)
    settings = Settings(python_grader_allow_unsandboxed=True, python_grader_timeout_seconds=3)
    source = ("import os\nfrom rapidfuzz import fuzz\ndef grade(sample, item):\n"
              "    assert 'OPENFT_SECRET_TOKEN' not in os.environ\n    return fuzz.ratio('kitten', 'sitting') / 100")
    result = await grade(parse_grader({"type": "python", "name": "p", "source": source}, settings),
                         item={}, sample=Sample.from_text("x"), settings=settings)
    assert (result.reward, result.failed) == (pytest.approx(8 / 13), False), result.details
    loop = "def grade(s, i):\n    while True:\n        pass"
    result = await grade(parse_grader({"type": "python", "name": "p", "source": loop}, settings),
                         item={}, sample=Sample.from_text("x"), settings=settings)
    assert result.errors["python_grader_server_error"]
    assert result.details["python_grader_server_error_type"] == "timeout"
