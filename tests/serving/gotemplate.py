"""A tiny interpreter of the Go ``text/template`` subset our Ollama TEMPLATEs use, to check that a
Modelfile renders what the Hugging Face template renders (ollama itself is not installable here).

Supported: literal text, ``{{ .Field }}``, ``{{ "str" }}``, ``{{ range $i, $_ := .Messages }}``,
``{{ $x := expr }}``, ``{{ if expr }}`` / ``{{ else if expr }}`` / ``{{ else }}`` / ``{{ end }}``,
and the functions ``eq``, ``ne``, ``not``, ``and``, ``or``, ``len``, ``slice``. Anything else
raises, so a template using more than this fails the test instead of rendering wrongly.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

_ACTION = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.S)


def _parse(template: str) -> list[Any]:
    """Nested nodes: str | ("expr", e) | ("set", name, e) | ("if", [(cond, body)], else) | ("range", ...)."""
    tokens: list[Any] = []
    pos = 0
    for m in _ACTION.finditer(template):
        text = template[pos:m.start()]
        if m.group(1):
            text = text.rstrip()
        tokens.append(text)
        tokens.append(m.group(2))
        pos = m.end()
        if m.group(3):
            rest = template[pos:]
            pos += len(rest) - len(rest.lstrip())
    tokens.append(template[pos:])
    nodes, i = _block(tokens, 0, top=True)
    return nodes


def _block(tokens: list[Any], i: int, top: bool = False) -> tuple[list[Any], int]:
    nodes: list[Any] = []
    while i < len(tokens):
        text, i = tokens[i], i + 1
        if i % 2 == 1:  # literal
            if text:
                nodes.append(text)
            continue
        if text == "end" or text.startswith("else"):
            if top:
                raise ValueError(f"unexpected {{{{ {text} }}}}")
            return nodes, i - 1
        if text.startswith("if "):
            branches, otherwise = [], []
            cond = text[3:]
            while True:
                body, i = _block(tokens, i)
                branches.append((cond, body))
                tag, i = tokens[i], i + 1
                if tag == "end":
                    break
                if tag.startswith("else if "):
                    cond = tag[8:]
                    continue
                if tag == "else":
                    otherwise, i = _block(tokens, i)
                    assert tokens[i] == "end"
                    i += 1
                    break
            nodes.append(("if", branches, otherwise))
        elif m := re.fullmatch(r"range \$(\w+), \$(\w+) := (\S+)", text):
            body, i = _block(tokens, i)
            assert tokens[i] == "end"
            i += 1
            nodes.append(("range", m.group(1), m.group(2), m.group(3), body))
        elif m := re.fullmatch(r"\$(\w+) := (.+)", text):
            nodes.append(("set", m.group(1), m.group(2)))
        else:
            nodes.append(("expr", text))
    return nodes, i


def _eval(expr: str, dot: Any, env: dict[str, Any]) -> Any:
    words = _split(expr)
    return _call(words, dot, env)


def _split(expr: str) -> list[Any]:
    """Words of an expression, parenthesized groups as nested lists."""
    out: list[Any] = []
    stack = [out]
    lexer = shlex.shlex(expr.replace("(", " ( ").replace(")", " ) "), posix=False)
    lexer.wordchars += "$.:_"
    for word in lexer:
        if word == "(":
            stack[-1].append([])
            stack.append(stack[-1][-1])
        elif word == ")":
            stack.pop()
        else:
            stack[-1].append(word)
    return out


def _value(word: Any, dot: Any, env: dict[str, Any]) -> Any:
    if isinstance(word, list):
        return _call(word, dot, env)
    if word.startswith('"'):
        return word[1:-1].encode().decode("unicode_escape")
    if word.lstrip("-").isdigit():
        return int(word)
    if word.startswith("$."):
        return env["$"][word[2:]]
    if word.startswith("$"):
        return env[word[1:]]
    if word.startswith("."):
        return dot[word[1:]]
    raise ValueError(f"unsupported word {word!r}")


def _call(words: list[Any], dot: Any, env: dict[str, Any]) -> Any:
    head, args = words[0], words[1:]
    funcs = {
        "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "not": lambda a: not a,
        "and": lambda *a: all(a), "or": lambda *a: any(a), "len": len, "slice": lambda s, i: s[i:],
    }
    if isinstance(head, str) and head in funcs:
        return funcs[head](*[_value(a, dot, env) for a in args])
    assert not args, f"unsupported call {words!r}"
    return _value(head, dot, env)


def _run(nodes: list[Any], dot: Any, env: dict[str, Any], out: list[str]) -> None:
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
        elif node[0] == "expr":
            out.append(str(_eval(node[1], dot, env)))
        elif node[0] == "set":
            env[node[1]] = _eval(node[2], dot, env)
        elif node[0] == "if":
            for cond, body in node[1]:
                if _eval(cond, dot, env):
                    _run(body, dot, env, out)
                    break
            else:
                _run(node[2], dot, env, out)
        elif node[0] == "range":
            _, index, item, source, body = node
            for i, element in enumerate(_eval(source, dot, env)):
                _run(body, element, {**env, index: i, item: element}, out)


def render(template: str, messages: list[dict[str, str]], system: str | None = None) -> str:
    """``template`` rendered with Ollama's data: ``.Messages`` (``Role``/``Content``) and ``.System``."""
    data = {"Messages": [{"Role": m["role"], "Content": m["content"]} for m in messages], "System": system or ""}
    out: list[str] = []
    _run(_parse(template), data, {"$": data}, out)
    return "".join(out)
