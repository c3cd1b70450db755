"""Checking the filename a client sent with a file part.

The filename is metadata only (store keys are ids), but it is echoed back to every client and
shown in tools, so a name that is a path (``../../etc/passwd``, ``C:\\x``) or carries control
characters is refused with a 400 rather than silently rewritten: the caller learns that what
they sent was not what they meant.

Clients such as httpx write control characters and ``"`` in multipart filenames as HTML5
percent escapes (``%0A``, ``%22``); those escapes are decoded first so they are judged as the
characters they stand for.
"""

from __future__ import annotations

import re
import unicodedata

from api.errors import InvalidRequest

DEFAULT_FILENAME = "upload"
MAX_FILENAME_BYTES = 255
# bidirectional overrides make a name display as something else (``exe.lmth`` tricks)
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_HTML5_ESCAPE = re.compile(r"%(22|[01][0-9A-Fa-f]|7[Ff])")


def _unescape(name: str) -> str:
    return _HTML5_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), name)


def clean_filename(raw: str | None, param: str = "file") -> str:
    """The filename to record for ``raw``; ``upload`` when the part had none.

    400 (naming ``param``, code ``invalid_filename``) when it is empty, a path, has control
    characters or is longer than 255 bytes.
    """
    if raw is None:
        return DEFAULT_FILENAME
    name = _unescape(raw)

    def bad(reason: str) -> InvalidRequest:
        return InvalidRequest(f"Invalid filename {name!r}: {reason}.", param=param, code="invalid_filename")

    if not name.strip():
        raise bad("it is empty")
    if any(unicodedata.category(ch) == "Cc" or ch in _BIDI_CONTROLS for ch in name):
        raise bad("it contains control characters")
    if "/" in name or "\\" in name:
        raise bad("send the base name of the file, not a path")
    if name in (".", ".."):
        raise bad("it is not a file name")
    if len(name.encode()) > MAX_FILENAME_BYTES:
        raise bad(f"it is longer than {MAX_FILENAME_BYTES} bytes")
    return name
