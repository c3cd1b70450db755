"""The python grader without namespaces (only where the operator opted in): rlimits, an empty
environment and a temporary working directory, then the same runner. Standard library only."""

from __future__ import annotations

import json
import os
import resource
import sys
from pathlib import Path


def main() -> None:
    cfg = json.loads(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (cfg["memory_bytes"],) * 2)
    resource.setrlimit(resource.RLIMIT_CPU, (cfg["cpu_seconds"], cfg["cpu_seconds"] + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (cfg["file_bytes"],) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    runner = str(Path(__file__).with_name("sandbox_runner.py"))
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8", "OPENBLAS_NUM_THREADS": "1"}
    os.execve(cfg["python"], [cfg["python"], "-I", "-S", "-B", runner, cfg["site_packages"]], env)


if __name__ == "__main__":
    main()
