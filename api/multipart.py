"""A streaming ``multipart/form-data`` reader: events, never the whole body in memory or on disk.

Starlette's form parser spools file parts to temporary files; uploads here go straight to the
artifact store instead, so this module turns the request body into a sequence of events as it
arrives (python-multipart's incremental parser does the byte work)::

    FieldPart(name, value)                      a small text field, complete
    FileStart(name, filename, content_type)     a part with a filename begins
    FileData(data)                              some of its bytes (chunks of the request)
    FileEnd()                                   it ended

Text fields are capped (:data:`MAX_FIELD_BYTES`); file parts are passed through as they come.
Malformed bodies raise :class:`api.errors.InvalidRequest`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from api.errors import InvalidRequest

MAX_FIELD_BYTES = 64 * 1024
MAX_PARTS = 64


@dataclass(frozen=True)
class FieldPart:
    name: str
    value: str


@dataclass(frozen=True)
class FileStart:
    name: str
    filename: str | None
    content_type: str | None


@dataclass(frozen=True)
class FileData:
    data: bytes


@dataclass(frozen=True)
class FileEnd:
    name: str


Event = FieldPart | FileStart | FileData | FileEnd


def boundary_of(content_type: str | None) -> bytes:
    """The boundary of a ``multipart/form-data`` content type; 400 for anything else."""
    ctype, options = parse_options_header(content_type or "")
    if ctype != b"multipart/form-data":
        raise InvalidRequest(
            "This endpoint expects a multipart/form-data body "
            f"(got Content-Type {content_type or 'none'!r}).",
            code="invalid_content_type",
        )
    boundary = options.get(b"boundary")
    if not boundary:
        raise InvalidRequest("The multipart/form-data Content-Type has no boundary.",
                             code="invalid_content_type")
    return boundary


class _Collector:
    """python-multipart callbacks that turn one ``write`` into a list of events."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.ended = False
        self.parts = 0
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._name = ""
        self._is_file = False
        self._field_value = bytearray()

    def callbacks(self) -> Any:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda d, s, e: self._header_field.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._header_value.extend(d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise InvalidRequest(f"Too many parts in the multipart body (at most {MAX_PARTS}).")
        self._headers = {}
        self._field_value = bytearray()

    def _header_end(self) -> None:
        self._headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        raw = self._headers.get(b"content-disposition", b"").decode("latin-1")
        disposition, options = parse_options_header(raw)
        if disposition != b"form-data" or not options.get(b"name"):
            raise InvalidRequest("A multipart part has no Content-Disposition: form-data name.")
        self._name = _text(options[b"name"])
        raw_filename = options.get(b"filename")
        content_type = self._headers.get(b"content-type")
        # A part is a file when it carries a filename, or when it is the field that holds
        # file bytes however the client labelled it (curl --form-string, some SDKs).
        self._is_file = raw_filename is not None
        if self._is_file:
            self.events.append(FileStart(
                name=self._name,
                filename=_text(raw_filename) if raw_filename is not None else None,
                content_type=content_type.decode("latin-1") if content_type else None,
            ))

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._is_file:
            if end > start:
                self.events.append(FileData(bytes(data[start:end])))
            return
        if len(self._field_value) + (end - start) > MAX_FIELD_BYTES:
            raise InvalidRequest(f"Form field '{self._name}' is longer than {MAX_FIELD_BYTES} bytes.",
                                 param=self._name)
        self._field_value.extend(data[start:end])

    def _part_end(self) -> None:
        if self._is_file:
            self.events.append(FileEnd(self._name))
        else:
            self.events.append(FieldPart(self._name, _text(bytes(self._field_value), param=self._name)))

    def _end(self) -> None:
        self.ended = True


def _text(raw: bytes, param: str | None = None) -> str:
    # parse_options_header hands back the raw header bytes; clients send UTF-8.
    try:
        return raw.decode("utf-8")
    except UnicodeError as exc:
        raise InvalidRequest("Form data is not valid UTF-8.", param=param) from exc


async def iter_multipart(content_type: str | None, body: AsyncIterator[bytes]) -> AsyncIterator[Event]:
    """Parse ``body`` (the request's byte stream) into events as the bytes arrive."""
    collector = _Collector()
    parser = MultipartParser(boundary_of(content_type), collector.callbacks())
    async for chunk in body:
        if not chunk:
            continue
        if collector.ended:
            continue  # epilogue after the closing boundary is ignored, as RFC 2046 says
        try:
            parser.write(chunk)
        except MultipartParseError as exc:
            raise InvalidRequest(f"Malformed multipart/form-data body: {exc}",
                                 code="invalid_multipart") from exc
        events, collector.events = collector.events, []
        for event in events:
            yield event
    if not collector.ended:
        raise InvalidRequest("The multipart/form-data body ended before its closing boundary.",
                             code="invalid_multipart")
