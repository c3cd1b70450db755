"""One pretrained ``tiny-chat`` per machine: the build cache that model caches link from.

Pretraining takes minutes, and every fresh data dir (the test suite makes hundreds) has its own
model cache. So the pretrained directory is built once into ``Settings.base_build_cache``
(default ``~/.cache/openft``) under a name content-addressed by :func:`core.tiny_chat.recipe_digest`,
and model caches hard-link its files (or copy them across file systems). A file lock makes
concurrent processes build it once; the build goes to a temporary directory renamed into place,
so a directory that exists is complete. A failed build raises (nothing half-built is kept).
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import tempfile
from pathlib import Path

from core import tiny_chat

log = logging.getLogger(__name__)
WEIGHTS = "model.safetensors"


def entry_name() -> str:
    """The cache directory name of the current recipe."""
    return f"{tiny_chat.NAME}-v{tiny_chat.VERSION}-{tiny_chat.recipe_digest()}"


def ensure_built(root: Path) -> Path:
    """The directory of the pretrained model under ``root``, built first if it is not there."""
    root = Path(root).expanduser()
    if not root.is_absolute():  # a relative cache would be rebuilt in every working directory
        raise ValueError(f"the base build cache must be an absolute path, not {root}")
    target = root / entry_name()
    if (target / WEIGHTS).is_file():
        return target
    locks = root / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    with (locks / f"{target.name}.lock").open("a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        if (target / WEIGHTS).is_file():  # another process built it while we waited
            return target
        log.warning("pretraining %s into %s (once per machine; a few minutes)", tiny_chat.NAME, target)
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{target.name}."))
        try:
            tiny_chat.build(tmp, log=log.info)
            for path in tmp.iterdir():
                path.chmod(0o444)  # shared by hard links: nobody may write through one
            tmp.chmod(0o755)
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target


def link_into(root: Path, dest: Path) -> None:
    """Fill ``dest`` with the pretrained model's files: hard links, or copies across file systems."""
    source = ensure_built(root)
    dest.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.iterdir()):
        try:
            os.link(path, dest / path.name)
        except OSError:
            shutil.copyfile(path, dest / path.name)
