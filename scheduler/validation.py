"""Streaming validation of a fine-tuning JSONL file (the ``validating_files`` stage).

The file is read once, as an iterator of byte chunks (``Store.iter_bytes``), and split into
lines here, so memory stays constant whatever the file size: one chunk, one line (at most
:data:`MAX_LINE_BYTES`) and one token batch are held at a time. Each line must be UTF-8 JSON
holding one example in the format of the job's method (``scheduler.formats``); blank lines are
skipped, CRLF line ends and a UTF-8 byte-order mark are accepted, and the last line needs no
newline. Token counts use the base model's tokenizer and chat template
(``scheduler.tokens``); examples longer than the model's max length are counted as truncated,
not refused. The first problem raises :class:`DataValidationError`, whose message names the line
and the rule; every code is listed in docs/validation-errors.md.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from scheduler.formats import Example, FormatError, Method, check_example
from scheduler.tokens import CountsTokens, TemplateRenderError, TokenCounter

if TYPE_CHECKING:
    from core.settings import Settings

FileParam = Literal["training_file", "validation_file"]

MAX_LINE_BYTES: Final = 8 * 1024 * 1024
"""Longest accepted line. A longer example would be truncated to a few thousand tokens anyway."""
MIN_EXAMPLES: Final[dict[str, int]] = {"training_file": 10, "validation_file": 1}
READ_CHUNK: Final = 1024 * 1024
_TOKEN_BATCH_EXAMPLES: Final = 256
_TOKEN_BATCH_CHARS: Final = 4_000_000
_BOM: Final = b"\xef\xbb\xbf"


class DataValidationError(ValueError):
    """A file failed validation: the job's ``error`` is ``{"code", "message", "param"}``.

    ``line`` is the 1-based line number, or None for whole-file problems (too few examples).
    """

    def __init__(self, code: str, param: str | None, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.param = param
        self.message = message
        self.line = line

    def as_error(self) -> dict[str, str | None]:
        """The job's ``error`` object."""
        return {"code": self.code, "message": self.message, "param": self.param}


@dataclass(frozen=True)
class ValidationResult:
    """What validation learned about a valid file.

    Token fields are None when no counter was given (``n_truncated`` and the per-epoch figure
    also need a max length). An example's length is its rendered conversation (for preference
    examples, the longer of prompt+preferred and prompt+non-preferred);
    ``trained_tokens_per_epoch`` sums ``min(length, max_length)``.
    """

    method: Method
    n_examples: int
    n_lines: int
    n_bytes: int
    sha256: str
    max_length: int | None = None
    total_tokens: int | None = None
    trained_tokens_per_epoch: int | None = None
    min_example_tokens: int | None = None
    max_example_tokens: int | None = None
    n_truncated: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for the job's ``stats``)."""
        return asdict(self)


class _LineTooLong(Exception):
    def __init__(self, lineno: int) -> None:
        self.lineno = lineno


def iter_lines(chunks: Iterable[bytes], max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[tuple[int, bytes]]:
    """Split a byte stream into ``(line_number, line)`` pairs without the ``\\n``.

    Holds at most one chunk and one line; raises ``_LineTooLong`` as soon as a line passes
    ``max_line_bytes``, without reading the rest of it.
    """
    pending: list[bytes] = []
    pending_len = 0
    lineno = 0
    for chunk in chunks:
        parts = chunk.split(b"\n")
        for part in parts[:-1]:
            lineno += 1
            if pending_len + len(part) > max_line_bytes:
                raise _LineTooLong(lineno)
            if pending:
                pending.append(part)
                part = b"".join(pending)
                pending, pending_len = [], 0
            yield lineno, part
        tail = parts[-1]
        if tail:
            pending_len += len(tail)
            if pending_len > max_line_bytes:
                raise _LineTooLong(lineno + 1)
            pending.append(tail)
    if pending:
        yield lineno + 1, b"".join(pending)


def _json_array_error(param: str, lineno: int) -> DataValidationError:
    return DataValidationError(
        "invalid_line", param,
        f"Line {lineno}: the file is a JSON array, but fine-tuning files must be JSONL: "
        "one JSON object per line, with no enclosing [ ]",
        lineno,
    )


def _has_lone_surrogate(text: str, obj: Any) -> bool:
    if "\\ud" not in text and "\\uD" not in text:
        return False
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class _TokenStats:
    """Running token figures, flushed in batches through a counter."""

    def __init__(self, counter: CountsTokens, max_length: int | None, param: str, model_hint: str) -> None:
        self.counter = counter
        self.max_length = max_length
        self.param = param
        self.model_hint = model_hint
        self.batch: list[tuple[int, Example]] = []
        self.batch_chars = 0
        self.total = self.trained = self.truncated = 0
        self.min: int | None = None
        self.max: int | None = None

    def add(self, lineno: int, example: Example, chars: int) -> None:
        self.batch.append((lineno, example))
        self.batch_chars += chars
        if len(self.batch) >= _TOKEN_BATCH_EXAMPLES or self.batch_chars >= _TOKEN_BATCH_CHARS:
            self.flush()

    def flush(self) -> None:
        if not self.batch:
            return
        convs = [c for _, ex in self.batch for c in ex.conversations]
        owners = [lineno for lineno, ex in self.batch for _ in ex.conversations]
        try:
            lengths = self.counter.count(convs)
        except TemplateRenderError as exc:
            lineno = owners[exc.index]
            detail = f"the chat template of {self.model_hint} cannot render this example: {exc.detail}"
            message = f"Line {lineno}: {detail}"
            raise DataValidationError("template_error", self.param, message, lineno) from exc
        limit = self.max_length
        pos = 0
        for _, ex in self.batch:
            n = max(lengths[pos:pos + len(ex.conversations)])
            pos += len(ex.conversations)
            self.total += n
            if limit is not None:
                self.trained += min(n, limit)
                self.truncated += n > limit
            self.min = n if self.min is None else min(self.min, n)
            self.max = n if self.max is None else max(self.max, n)
        self.batch, self.batch_chars = [], 0


def _min_examples_message(param: str, n: int, minimum: int) -> str:
    what = "Training" if param == "training_file" else "Validation"
    plural = "example" if minimum == 1 else "examples"
    return f"{what} file has {n} example(s), but must have at least {minimum} {plural}"


def validate_stream(
    chunks: Iterable[bytes],
    *,
    kind: Method = "supervised",
    param: FileParam | str = "training_file",
    counter: CountsTokens | None = None,
    max_length: int | None = None,
    model_name: str | None = None,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> ValidationResult:
    """Validate a JSONL byte stream for a job of method ``kind``; raise :class:`DataValidationError`.

    ``param`` names the file in errors (``training_file`` needs 10 examples, ``validation_file``
    1). With a ``counter``, token figures are filled in; examples over ``max_length`` (default:
    the counter's ``max_length`` attribute) are counted as truncated. ``model_name`` only words
    template errors. Blocking and CPU-bound: run it in a thread.
    """
    if kind not in ("supervised", "dpo"):
        raise ValueError(f"kind must be 'supervised' or 'dpo', not {kind!r}")
    if param not in MIN_EXAMPLES:
        raise ValueError(f"param must be 'training_file' or 'validation_file', not {param!r}")
    sha = hashlib.sha256()
    n_bytes = 0

    def hashed() -> Iterator[bytes]:
        nonlocal n_bytes
        for chunk in chunks:
            sha.update(chunk)
            n_bytes += len(chunk)
            yield chunk

    def fail(code: str, lineno: int, detail: str) -> DataValidationError:
        return DataValidationError(code, param, f"Line {lineno}: {detail}", lineno)

    hint = f"model '{model_name}'" if model_name else "the base model"
    if max_length is None and counter is not None:
        max_length = getattr(counter, "max_length", None)
    stats = _TokenStats(counter, max_length, param, hint) if counter is not None else None
    n_examples = n_lines = 0
    seen_content = False
    try:
        for lineno, raw in iter_lines(hashed(), max_line_bytes):
            n_lines = lineno
            if lineno == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM):]
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise fail(
                    "invalid_encoding", lineno,
                    f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start} of the line); "
                    "fine-tuning files must be UTF-8 encoded",
                ) from None
            if not text.strip():
                continue
            first = not seen_content
            seen_content = True
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                if first and text.lstrip().startswith("["):
                    raise _json_array_error(param, lineno) from None
                hint = ""
                if first and text.strip() == "{":
                    hint = "; each example must be a whole JSON object on one line"
                detail = f"invalid JSON: {exc.msg}: column {exc.colno}{hint}"
                raise fail("invalid_json", lineno, detail) from None
            if first and isinstance(obj, list):
                raise _json_array_error(param, lineno)
            if _has_lone_surrogate(text, obj):
                raise fail("invalid_encoding", lineno,
                           "contains a \\u escape of a lone surrogate, which is not valid Unicode")
            try:
                example = check_example(obj, kind, render=stats is not None)
            except FormatError as exc:
                raise fail(exc.code, lineno, exc.detail) from None
            n_examples += 1
            if stats is not None:
                stats.add(lineno, example, len(text))
        if stats is not None:
            stats.flush()
    except _LineTooLong as exc:
        raise fail(
            "line_too_long", exc.lineno,
            f"the line is longer than the limit of {max_line_bytes // (1024 * 1024)} MiB per example",
        ) from None

    minimum = MIN_EXAMPLES[param]
    if n_examples < minimum:
        message = _min_examples_message(param, n_examples, minimum)
        raise DataValidationError("invalid_n_examples", param, message)
    result = ValidationResult(method=kind, n_examples=n_examples, n_lines=n_lines, n_bytes=n_bytes,
                              sha256=sha.hexdigest())
    if stats is None:
        return result
    return ValidationResult(
        **{**asdict(result), "max_length": max_length, "total_tokens": stats.total,
           "trained_tokens_per_epoch": stats.trained if max_length is not None else None,
           "min_example_tokens": stats.min, "max_example_tokens": stats.max,
           "n_truncated": stats.truncated if max_length is not None else None},
    )


def _read_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(READ_CHUNK):
            yield chunk


def validate_local(
    path: str | Path,
    model: str | None = None,
    settings: Settings | None = None,
    *,
    kind: Method = "supervised",
    param: FileParam = "training_file",
    counter: CountsTokens | None = None,
) -> ValidationResult:
    """Validate a local JSONL file offline, with the same rules as the server.

    With ``model`` (a catalog name), tokens are counted with its tokenizer and chat template,
    loaded through ``core.catalog`` using ``settings`` (default: ``Settings()``). A ``counter``
    given directly wins over ``model``. Raises :class:`DataValidationError`.
    """
    if counter is None and model is not None:
        if settings is None:
            from core.settings import Settings

            settings = Settings()  # filled from the environment
        counter = TokenCounter.for_model(model, settings)
    chunks = _read_chunks(Path(path))
    return validate_stream(chunks, kind=kind, param=param, counter=counter, model_name=model)

