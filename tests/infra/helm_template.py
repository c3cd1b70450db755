"""A small renderer for the subset of Helm's Go templates that infra/helm/openft uses.

``helm`` is not installed on the machines these tests run on, so the chart is rendered here.
Supported (and nothing else: anything unknown raises :class:`TemplateError`, so a template
that grows beyond this subset fails the test instead of rendering wrongly):

- actions ``{{ … }}`` with ``{{-``/``-}}`` whitespace trimming, comments ``{{/* … */}}``
- ``define``/``include``, ``if``/``else``/``end``, ``range $k, $v := …``/``range …``
- values ``.``, ``.A.B``, ``$``, ``$.A``, ``$var``, ``$var.A``, "strings", integers
- pipelines ``a | f x`` and the functions in :data:`FUNCTIONS`

Missing keys raise (Helm would print ``<no value>``), which catches typos in value paths.
When ``helm`` is on PATH, the deploy tests also run ``helm template`` on the chart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class TemplateError(Exception):
    """The template uses syntax outside the supported subset, or rendering failed."""


class RequiredValueMissing(TemplateError):
    """``required`` met an empty value."""


_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\$?[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*|\$(?:\.[A-Za-z_]\w*)*'
                    r"|\.(?:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)?|-?\d+|:=|\||,|\S")


# --- parsing ---------------------------------------------------------------------------------
@dataclass
class Node:
    kind: str  # text | action | if | range | define
    text: str = ""
    expr: str = ""
    body: list[Node] = field(default_factory=list)
    orelse: list[Node] = field(default_factory=list)
    names: list[str] = field(default_factory=list)


def _lex(source: str) -> list[tuple[str, str]]:
    """("text", …) and ("action", …) items with Go's whitespace trimming applied."""
    items: list[tuple[str, str]] = []
    pos, trim_next = 0, False
    for match in _ACTION.finditer(source):
        text = source[pos:match.start()]
        if trim_next:
            text = text.lstrip()
        if match.group(1):
            text = text.rstrip()
        items.append(("text", text))
        content = match.group(2).strip()
        if not (content.startswith("/*") and content.endswith("*/")):
            items.append(("action", content))
        trim_next, pos = bool(match.group(3)), match.end()
    tail = source[pos:]
    items.append(("text", tail.lstrip() if trim_next else tail))
    return items


def parse(source: str) -> list[Node]:
    root: list[Node] = []
    stack: list[tuple[Node | None, list[Node]]] = [(None, root)]
    for kind, content in _lex(source):
        parent, out = stack[-1]
        if kind == "text":
            if content:
                out.append(Node("text", text=content))
            continue
        word, _, rest = content.partition(" ")
        if word == "if":
            node = Node("if", expr=rest)
            out.append(node)
            stack.append((node, node.body))
        elif word == "range":
            names: list[str] = []
            if ":=" in rest:
                left, rest = rest.split(":=", 1)
                names = [n.strip() for n in left.split(",")]
            node = Node("range", expr=rest.strip(), names=names)
            out.append(node)
            stack.append((node, node.body))
        elif word == "define":
            node = Node("define", text=json.loads(rest.strip()))
            out.append(node)
            stack.append((node, node.body))
        elif word == "else":
            if parent is None or parent.kind != "if" or rest:
                raise TemplateError(f"unsupported else: {content!r}")
            stack[-1] = (parent, parent.orelse)
        elif word == "end":
            if parent is None:
                raise TemplateError("end without a block")
            stack.pop()
        elif word in ("with", "template", "block", "tpl", "break", "continue"):
            raise TemplateError(f"unsupported action: {content!r}")
        else:
            out.append(Node("action", expr=content))
    if len(stack) != 1:
        raise TemplateError("unclosed block")
    return root


# --- evaluation -----------------------------------------------------------------------------
def truthy(value: Any) -> bool:
    return value not in (None, False, 0, "") and not (isinstance(value, dict | list) and not value)


def to_text(value: Any) -> str:
    if value is None:
        raise TemplateError("rendering a missing value")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        raise TemplateError(f"rendering a collection directly: {value!r}")
    return str(value)


def _to_yaml(value: Any) -> str:
    if isinstance(value, dict | list) and not value:
        return "{}" if isinstance(value, dict) else "[]"
    return yaml.safe_dump(value, default_flow_style=False, sort_keys=False).rstrip("\n")


def _printf(fmt: str, *args: Any) -> str:
    return re.sub(r"%[sdv]", "{}", fmt).format(*(to_text(a) for a in args))


def _required(message: str, value: Any) -> Any:
    if not truthy(value):
        raise RequiredValueMissing(message)
    return value


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "quote": lambda v: json.dumps(to_text(v)),
    "upper": lambda v: to_text(v).upper(),
    "toString": to_text,
    "toYaml": _to_yaml,
    "nindent": lambda n, s: "\n" + "\n".join(" " * n + line for line in to_text(s).split("\n")),
    "indent": lambda n, s: "\n".join(" " * n + line for line in to_text(s).split("\n")),
    "printf": _printf,
    "trunc": lambda n, s: to_text(s)[:n],
    "trimSuffix": lambda suffix, s: to_text(s).removesuffix(suffix),
    "required": _required,
    "not": lambda v: not truthy(v),
    "default": lambda d, v: v if truthy(v) else d,
}


@dataclass
class Renderer:
    """Renders chart templates against ``context`` (``Values``, ``Release``, ``Chart``)."""

    context: dict[str, Any]
    defines: dict[str, list[Node]] = field(default_factory=dict)

    def load_defines(self, source: str) -> None:
        for node in parse(source):
            if node.kind == "define":
                self.defines[node.text] = node.body
            elif node.kind != "text" or node.text.strip():
                raise TemplateError("helper files may hold only defines")

    def render(self, source: str) -> str:
        nodes = parse(source)
        for node in nodes:
            if node.kind == "define":
                self.defines[node.text] = node.body
        return self._nodes(nodes, self.context, {"$": self.context})

    def _nodes(self, nodes: list[Node], dot: Any, variables: dict[str, Any]) -> str:
        out: list[str] = []
        for node in nodes:
            if node.kind == "text":
                out.append(node.text)
            elif node.kind == "action":
                out.append(to_text(self._pipeline(node.expr, dot, variables)))
            elif node.kind == "if":
                branch = node.body if truthy(self._pipeline(node.expr, dot, variables)) else node.orelse
                out.append(self._nodes(branch, dot, variables))
            elif node.kind == "range":
                out.append(self._range(node, dot, variables))
        return "".join(out)

    def _range(self, node: Node, dot: Any, variables: dict[str, Any]) -> str:
        items = self._pipeline(node.expr, dot, variables)
        pairs = sorted(items.items()) if isinstance(items, dict) else list(enumerate(items or []))
        out = []
        for key, value in pairs:
            scope = dict(variables)
            if len(node.names) == 2:
                scope[node.names[0]], scope[node.names[1]] = key, value
            elif len(node.names) == 1:
                scope[node.names[0]] = value
            out.append(self._nodes(node.body, value, scope))
        return "".join(out)

    def _pipeline(self, expr: str, dot: Any, variables: dict[str, Any]) -> Any:
        tokens = _TOKEN.findall(expr)
        commands: list[list[str]] = [[]]
        for token in tokens:
            if token == "|":
                commands.append([])
            elif token in ("(", ")", ":=", ","):
                raise TemplateError(f"unsupported syntax in {expr!r}")
            else:
                commands[-1].append(token)
        value: Any = None
        for i, command in enumerate(commands):
            if not command:
                raise TemplateError(f"empty command in {expr!r}")
            head, args = command[0], [self._arg(a, dot, variables) for a in command[1:]]
            if i > 0:
                args.append(value)
            if head == "include":
                name, ctx = args
                if name not in self.defines:
                    raise TemplateError(f"include of undefined template {name!r}")
                value = self._nodes(self.defines[name], ctx, {"$": ctx})
            elif head in FUNCTIONS:
                value = FUNCTIONS[head](*args)
            elif head[0] in '."$' or head.lstrip("-").isdigit():
                if args:
                    raise TemplateError(f"arguments after a value in {expr!r}")
                value = self._arg(head, dot, variables)
            else:
                raise TemplateError(f"unsupported function {head!r} in {expr!r}")
        return value

    def _arg(self, token: str, dot: Any, variables: dict[str, Any]) -> Any:
        if token.startswith('"'):
            return json.loads(token)
        if token.lstrip("-").isdigit():
            return int(token)
        if token == ".":
            return dot
        if token.startswith("$"):
            name, _, path = token.partition(".")
            if name not in variables:
                raise TemplateError(f"undefined variable {name}")
            return self._walk(variables[name], path, token)
        if token.startswith("."):
            return self._walk(dot, token[1:], token)
        raise TemplateError(f"unsupported argument {token!r}")

    @staticmethod
    def _walk(value: Any, path: str, token: str) -> Any:
        for part in filter(None, path.split(".")):
            if not isinstance(value, dict) or part not in value:
                raise TemplateError(f"no value at {token}")
            value = value[part]
        return value


def render_chart(chart_dir: Path, values: dict[str, Any], release: str = "rel") -> dict[str, str]:
    """``{template file name: rendered text}`` for every template of the chart."""
    chart = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
    context = {
        "Values": values,
        "Release": {"Name": release, "Namespace": "default", "Service": "Helm"},
        "Chart": {"Name": chart["name"], "Version": chart["version"], "AppVersion": chart["appVersion"]},
    }
    renderer = Renderer(context)
    templates = sorted((chart_dir / "templates").iterdir())
    for path in templates:
        if path.name.startswith("_"):
            renderer.load_defines(path.read_text())
    return {p.name: renderer.render(p.read_text()) for p in templates if not p.name.startswith("_")}


def merge_values(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's ``--set``/``-f`` merge: nested dicts merge, everything else replaces."""
    out = dict(base)
    for key, value in override.items():
        out[key] = merge_values(out[key], value) if isinstance(value, dict) and isinstance(
            out.get(key), dict) else value
    return out
