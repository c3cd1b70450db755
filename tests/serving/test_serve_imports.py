"""The API starts without torch: the engine imports it on the first completion only."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys
from api.app import create_app
from api.inference.server import ModelServer
from core.settings import Settings
from core.store import LocalStore
settings = Settings(data_dir=sys.argv[1])
create_app(settings)
server = ModelServer(settings, LocalStore(sys.argv[1] + "/artifacts"))
server.engine  # building the engine object loads nothing either
heavy = sorted(m for m in ("torch", "transformers.modeling_utils", "peft", "bitsandbytes") if m in sys.modules)
print(heavy)
"""


def test_api_and_engine_objects_import_no_torch(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2], timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
