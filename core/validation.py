"""Streaming validation of a fine-tuning JSONL file (the ``validating_files`` stage).

Shared by the scheduler's ``validating_files`` stage and the offline validator of the SDK and
CLI (``files.validate_local``, ``openft validate``), so both give the same verdict with the same
code and line. The file is read once, as an iterator of byte chunks (``Store.iter_bytes`` or a
local file), through the one JSONL reader (``core.jsonl``: line splitting, UTF-8, a leading BOM,
CRLF, blank lines, the line limit), so memory stays constant whatever the file size: one
chunk, one line and one token batch are held at a time. Each line must hold one example in the
format of the job's method (``core.formats``). Token counts use the base model's tokenizer and
chat template (``core.tokens``); examples longer than the model's max length are counted as
truncated, not refused. The first problem raises :class:`DataValidationError`, whose message
names the line and the rule; every code is listed in docs/validation-errors.md.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from core.formats import Example, FormatError, Method, check_example
from core.jsonl import MAX_LINE_BYTES, JsonlError, iter_records, read_file_chunks
from core.tokens import CountsTokens, TemplateRenderError, TokenCounter

if TYPE_CHECKING:
    from core.data_quality import QualityPass
    from core.settings import Settings

FileParam = Literal["training_file", "validation_file"]

MIN_EXAMPLES: Final[dict[str, int]] = {"training_file": 10, "validation_file": 1}
_TOKEN_BATCH_EXAMPLES: Final = 256
_TOKEN_BATCH_CHARS: Final = 4_000_000


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
    token_histogram: dict[str, int] | None = None
    """Examples by length: ``{"<=64": 3, "<=128": 40, ...}`` (powers of two)."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for the job's ``stats``)."""
        return asdict(self)


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
        self.histogram: dict[int, int] = {}

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
            bucket = 1 << max(n - 1, 0).bit_length()  # the power of two at or above n
            self.histogram[bucket] = self.histogram.get(bucket, 0) + 1
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
    check_line: Callable[[dict[str, Any]], None] | None = None,
    quality: QualityPass | None = None,
) -> ValidationResult:
    """Validate a JSONL byte stream for a job of method ``kind``; raise :class:`DataValidationError`.

    ``check_line`` is a further rule for each valid example (the fields a reinforcement grader
    reads); the :class:`FormatError` it raises is reported with the line number. With
    ``quality``, every valid example is also fed to that data quality pass
    (``core.data_quality``) under ``param``.

    ``param`` names the file in errors (``training_file`` needs 10 examples, ``validation_file``
    1). With a ``counter``, token figures are filled in; examples over ``max_length`` (default:
    the counter's ``max_length`` attribute) are counted as truncated. ``model_name`` only words
    template errors. Blocking and CPU-bound: run it in a thread.
    """
    if kind not in ("supervised", "dpo", "reinforcement"):
        raise ValueError(f"kind must be 'supervised', 'dpo' or 'reinforcement', not {kind!r}")
    if param not in MIN_EXAMPLES:
        raise ValueError(f"param must be 'training_file' or 'validation_file', not {param!r}")
    sha = hashlib.sha256()
    n_bytes = n_newlines = 0
    last = b"\n"

    def hashed() -> Iterator[bytes]:
        nonlocal n_bytes, n_newlines, last
        for chunk in chunks:
            sha.update(chunk)
            n_bytes += len(chunk)
            n_newlines += chunk.count(b"\n")
            last = chunk[-1:] or last
            yield chunk

    hint = f"model '{model_name}'" if model_name else "the base model"
    if max_length is None and counter is not None:
        max_length = getattr(counter, "max_length", None)
    stats = _TokenStats(counter, max_length, param, hint) if counter is not None else None
    n_examples = 0
    try:
        for record in iter_records(hashed(), max_line_bytes):
            try:
                example = check_example(record.value, kind, render=stats is not None)
                if check_line is not None:
                    check_line(record.value)
            except FormatError as exc:
                raise DataValidationError(exc.code, param, f"Line {record.line}: {exc.detail}", record.line) from None
            n_examples += 1
            if stats is not None:
                stats.add(record.line, example, len(record.text))
            if quality is not None:
                quality.add(param, record.line, record.value)
        if stats is not None:
            stats.flush()
    except JsonlError as exc:
        raise DataValidationError(exc.code, param, exc.message, exc.line) from None

    minimum = MIN_EXAMPLES[param]
    if n_examples < minimum:
        message = _min_examples_message(param, n_examples, minimum)
        raise DataValidationError("invalid_n_examples", param, message)
    n_lines = n_newlines + (last != b"\n")  # the last line needs no newline
    result = ValidationResult(method=kind, n_examples=n_examples, n_lines=n_lines, n_bytes=n_bytes,
                              sha256=sha.hexdigest())
    if stats is None:
        return result
    return ValidationResult(
        **{**asdict(result), "max_length": max_length, "total_tokens": stats.total,
           "trained_tokens_per_epoch": stats.trained if max_length is not None else None,
           "min_example_tokens": stats.min, "max_example_tokens": stats.max,
           "n_truncated": stats.truncated if max_length is not None else None,
           "token_histogram": {f"<={b}": n for b, n in sorted(stats.histogram.items())}},
    )


def validate_local(
    path: str | Path,
    model: str | None = None,
    settings: Settings | None = None,
    *,
    kind: Method = "supervised",
    param: FileParam = "training_file",
    counter: CountsTokens | None = None,
    quality: QualityPass | None = None,
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
    chunks = read_file_chunks(path)
    return validate_stream(chunks, kind=kind, param=param, counter=counter, model_name=model, quality=quality)

