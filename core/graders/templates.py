"""``{{item.x}}`` / ``{{sample.output_text}}`` templates, rendered as OpenAI's graders render them.

A variable is ``namespace.path`` where the namespace is ``item`` (the data line) or ``sample``
(the model's answer: ``output_text``, ``output_json``, ``output_tools``, ``choices``) and the
path is dotted keys and ``[n]`` list indices (``item.answers[0].text``). Strings render as they
are, everything else as compact JSON (``true``, ``3``, ``{"a":1}``). A variable that does not
resolve raises :class:`TemplateVariableError`; text that is not a ``{{…}}`` stays literal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_VARIABLE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_STEP = re.compile(r"\.?([^.\[\]]+)|\[(-?\d+)\]")


class TemplateVariableError(LookupError):
    """A template names a variable the item or sample does not have.

    ``sample_parse`` is true when the variable reads ``sample.output_json`` but the sample was not
    JSON (OpenAI's ``sample_parse_error``).
    """

    def __init__(self, variable: str, reason: str, *, sample_parse: bool = False) -> None:
        super().__init__(f"Invalid variable '{{{{{variable}}}}}': {reason}")
        self.variable = variable
        self.reason = reason
        self.sample_parse = sample_parse


@dataclass
class Sample:
    """A model's answer, as ``{{sample.*}}`` templates and python graders see it."""

    output_text: str
    output_json: Any | None = None
    output_tools: list[Any] | None = None
    choices: list[Any] | None = None

    @classmethod
    def from_text(cls, text: str, **extra: Any) -> Sample:
        """A sample whose ``output_json`` is ``text`` parsed, when it is JSON."""
        try:
            parsed = json.loads(text)
        except (ValueError, TypeError):
            parsed = None
        return cls(output_text=text, output_json=parsed, **extra)

    def as_dict(self) -> dict[str, Any]:
        """The ``sample`` namespace (also what a python grader receives)."""
        return {"output_text": self.output_text, "output_json": self.output_json,
                "output_tools": self.output_tools or [], "choices": self.choices or []}


def _walk(root: Any, path: str, variable: str) -> Any:
    value, pos = root, 0
    while pos < len(path):
        m = _STEP.match(path, pos)
        if m is None or m.end() == pos:
            raise TemplateVariableError(variable, "malformed path")
        key, index = m.group(1), m.group(2)
        pos = m.end()
        if key is not None:
            if isinstance(value, Mapping) and key in value:
                value = value[key]
            elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
                value = value[int(key)]
            else:
                raise TemplateVariableError(variable, f"no field '{key}'")
        else:
            i = int(index)
            if not isinstance(value, list) or not -len(value) <= i < len(value):
                raise TemplateVariableError(variable, f"no element [{i}]")
            value = value[i]
    return value


def resolve(variable: str, *, item: Mapping[str, Any] | None, sample: Sample | None) -> Any:
    """The value ``variable`` (``item.x.y``, ``sample.output_text``…) names."""
    namespace, _, path = variable.partition(".")
    if namespace == "item":
        if item is None:
            raise TemplateVariableError(variable, "there is no item")
        return _walk(item, path, variable) if path else item
    if namespace == "sample":
        if sample is None:
            raise TemplateVariableError(variable, "there is no sample")
        if (path == "output_json" or path.startswith(("output_json.", "output_json["))) and sample.output_json is None:
            raise TemplateVariableError(variable, "the sample is not JSON", sample_parse=True)
        return _walk(sample.as_dict(), path, variable) if path else sample.as_dict()
    raise TemplateVariableError(variable, "variables start with 'item.' or 'sample.'")


def to_text(value: Any) -> str:
    """How a resolved value is written into the rendered text."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def render_template(template: str, *, item: Mapping[str, Any] | None, sample: Sample | None) -> str:
    """``template`` with every ``{{variable}}`` replaced; :class:`TemplateVariableError` if one is missing."""
    return _VARIABLE.sub(lambda m: to_text(resolve(m.group(1), item=item, sample=sample)), template)


def variables(template: str) -> list[str]:
    """The variables ``template`` references, in order."""
    return [m.group(1) for m in _VARIABLE.finditer(template)]
