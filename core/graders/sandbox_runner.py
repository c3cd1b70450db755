"""Runs inside the sandbox (see sandbox_launch.py): reads ``{"source", "sample", "item"}`` as JSON
on stdin, calls the user's ``grade(sample, item)`` and writes ``{"reward": x}`` or
``{"error": "traceback"}`` on the protocol channel (the original stdout; the user's own prints go
to stderr). Standard library only; the import guard below is a second fence behind the
namespaces and rlimits, not the isolation itself.
"""

import builtins
import json
import math
import numbers
import os
import sys
import traceback

BLOCKED = frozenset({
    "socket", "_socket", "ssl", "_ssl", "subprocess", "_posixsubprocess", "multiprocessing",
    "_multiprocessing", "ctypes", "_ctypes", "pty", "asyncio", "selectors", "select", "urllib", "http",
    "ftplib", "smtplib", "poplib", "imaplib", "telnetlib", "xmlrpc", "socketserver", "webbrowser",
})


def _guard() -> None:
    real_import = builtins.__import__

    def guarded(name, globals=None, locals=None, fromlist=(), level=0):  # type: ignore[no-untyped-def]
        if level == 0 and name.partition(".")[0] in BLOCKED:
            raise ImportError(f"import of '{name}' is not allowed in a python grader")
        return real_import(name, globals, locals, fromlist, level)

    builtins.__import__ = guarded
    for name in ("system", "fork", "forkpty", "popen", "kill", "killpg", "execv", "execve", "execl", "execle",
                 "execlp", "execlpe", "execvp", "execvpe", "spawnl", "spawnle", "spawnv", "spawnve",
                 "posix_spawn", "posix_spawnp"):
        os.__dict__.pop(name, None)


def main() -> None:
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    packages = sys.argv[1] if len(sys.argv) > 1 else "/opt/site-packages"  # where the installed packages are
    if os.path.isdir(packages):
        sys.path.append(packages)
    payload = json.loads(sys.stdin.read())
    _guard()
    try:
        namespace: dict = {"__name__": "grader"}
        exec(compile(payload["source"], "grader.py", "exec"), namespace)
        value = namespace["grade"](payload["sample"], payload["item"])
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"grade() returned {type(value).__name__}, expected a float")
        if not math.isfinite(float(value)):
            raise ValueError(f"grade() returned {float(value)}, expected a finite float")
        answer: dict = {"reward": float(value)}
    except BaseException:  # noqa: BLE001 - the user's code may raise anything, SystemExit included
        kind, exc, tb = sys.exc_info()
        lines = traceback.format_exception(kind, exc, tb.tb_next if tb else None)  # without this runner's frame
        answer = {"error": "".join(lines)[-4000:]}
    channel.write(json.dumps(answer))
    channel.flush()


main()
