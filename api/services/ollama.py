"""Ollama Modelfiles for GGUF exports: the chat template translated to a Go template.

A Hugging Face chat template is Jinja; Ollama's ``TEMPLATE`` is a Go ``text/template`` over
``.Messages`` (each with ``.Role`` and ``.Content``). Rather than translating Jinja, we read the
turn structure off the template's own renderings (:func:`turn_format`): the text before the first
message, and for each role the text around its content, plus the generation prompt. This covers
ChatML and the other "wrapper per turn" formats (Llama 3, Zephyr, ...). The parts are checked
against the template on several conversations; a template that does not fit (one that injects
dates, or reorders messages) raises :class:`TemplateNotTranslatable`.

The Go template renders a conversation ending in a user (or system) turn followed by the
generation prompt, exactly as ``apply_chat_template(..., add_generation_prompt=True)``; a final
assistant turn is left open so Ollama continues it. Ollama puts the Modelfile's ``SYSTEM`` into
``.Messages`` itself when a request has no system message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api.errors import InvalidRequest

ROLES = ("system", "user", "assistant")
_MARK = "\u2063{}\u2063"  # content markers no template alters (invisible separator around a word)


class TemplateNotTranslatable(InvalidRequest):
    """The chat template has no per-turn shape a Go template can reproduce (400 on ``format``)."""

    def __init__(self, why: str) -> None:
        super().__init__(f"The model's chat template cannot be written as an Ollama TEMPLATE: {why}",
                         param="format", code="model_not_exportable")


@dataclass(frozen=True)
class TurnFormat:
    """A chat template as text around each turn: ``start`` + per message ``prefix[role]`` content
    ``suffix[role]`` + ``generation`` (the assistant's prefix when a reply is wanted)."""

    start: str
    prefix: dict[str, str]
    suffix: dict[str, str]
    generation: str

    def render(self, messages: list[dict[str, str]]) -> str:
        """What the Go template (and the HF template with a generation prompt) renders."""
        out = [self.start]
        for i, m in enumerate(messages):
            last = i == len(messages) - 1
            out.append(self.prefix[m["role"]] + m["content"])
            if not (last and m["role"] == "assistant"):
                out.append(self.suffix[m["role"]])
        if messages and messages[-1]["role"] != "assistant":
            out.append(self.generation)
        return "".join(out)

    def go_template(self) -> str:
        """The Ollama ``TEMPLATE`` (Go text/template over ``.Messages``)."""
        branches = "".join(
            f'{{{{ {"if" if i == 0 else "else if"} eq .Role "{role}" }}}}{_go(self.prefix[role])}{{{{ .Content }}}}'
            + (f"{{{{ if not $last }}}}{_go(self.suffix[role])}{{{{ end }}}}" if role == "assistant"
               else _go(self.suffix[role]))
            for i, role in enumerate(ROLES))
        return (f"{_go(self.start)}{{{{ range $i, $_ := .Messages }}}}"
                "{{ $last := eq (len (slice $.Messages $i)) 1 }}"
                f"{branches}{{{{ end }}}}"
                f'{{{{ if and $last (ne .Role "assistant") }}}}{_go(self.generation)}{{{{ end }}}}'
                "{{ end }}")


def _go(text: str) -> str:
    """Literal text inside a Go template (``{{`` would open an action)."""
    return text.replace("{{", '{{ "{{" }}')


def _between(text: str, a: str, b: str) -> str:
    return text.split(_MARK.format(a), 1)[1].split(_MARK.format(b), 1)[0]


def turn_format(tokenizer: Any) -> TurnFormat:
    """Read the turn structure off ``tokenizer``'s chat template and verify it (see module doc)."""
    def render(msgs: list[tuple[str, str]], gen: bool = False) -> str:
        text = tokenizer.apply_chat_template([{"role": r, "content": _MARK.format(c)} for r, c in msgs],
                                             tokenize=False, add_generation_prompt=gen)
        return str(text)

    if not tokenizer.chat_template:
        raise TemplateNotTranslatable("the model has no chat template.")
    try:
        four = render([("user", "U1"), ("assistant", "A1"), ("user", "U2"), ("assistant", "A2")])
        one, one_gen = render([("user", "U1")]), render([("user", "U1")], gen=True)
        sys_user = render([("system", "S1"), ("user", "U1")])
    except Exception as exc:  # a template that raises on plain conversations
        raise TemplateNotTranslatable(str(exc)) from exc
    if not one_gen.startswith(one):
        raise TemplateNotTranslatable("the generation prompt is not appended after the last turn.")
    generation = one_gen[len(one):]
    user_to_assistant = _between(four, "U1", "A1")
    assistant_to_user = _between(four, "A1", "U2")
    assistant_suffix = four.split(_MARK.format("A2"), 1)[1]
    if not (user_to_assistant.endswith(generation) and assistant_to_user.startswith(assistant_suffix)):
        raise TemplateNotTranslatable("the assistant turn is not wrapped the same way each time.")
    user_prefix = assistant_to_user[len(assistant_suffix):]
    head = four.split(_MARK.format("U1"), 1)[0]
    if not head.endswith(user_prefix):
        raise TemplateNotTranslatable("the first user turn is wrapped differently from later ones.")
    start = head[: len(head) - len(user_prefix)]
    sys_head = sys_user.split(_MARK.format("S1"), 1)[0]
    if not sys_head.startswith(start):
        raise TemplateNotTranslatable("the system turn changes the text before the conversation.")
    fmt = TurnFormat(
        start=start,
        prefix={"system": sys_head[len(start):], "user": user_prefix, "assistant": generation},
        suffix={"system": _between(sys_user, "S1", "U1")[: -len(user_prefix) or None],
                "user": user_to_assistant[: len(user_to_assistant) - len(generation)],
                "assistant": assistant_suffix},
        generation=generation)
    _verify(fmt, tokenizer)
    return fmt


def _verify(fmt: TurnFormat, tokenizer: Any) -> None:
    """The parts reproduce the template on conversations unlike the ones they were read from."""
    conversations = [
        [{"role": "user", "content": "hi"}],
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"},
         {"role": "assistant", "content": "4"}, {"role": "user", "content": "and 3+3?"}],
        [{"role": "user", "content": "a\nb"}, {"role": "assistant", "content": "c"},
         {"role": "user", "content": "d"}, {"role": "assistant", "content": "e"}, {"role": "user", "content": "f"}],
    ]
    for msgs in conversations:
        want = tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        if fmt.render(msgs) != want:
            raise TemplateNotTranslatable("it renders conversations differently from a per-turn wrapper.")


def modelfile(gguf_name: str, fmt: TurnFormat, stop: list[str], system: str | None) -> str:
    """A Modelfile for ``ollama create NAME -f Modelfile`` next to the GGUF file ``gguf_name``."""
    template = fmt.go_template()
    for text in (template, system or ""):
        if '"""' in text:
            raise TemplateNotTranslatable('it contains """, which a Modelfile cannot quote.')
    lines = [f"FROM ./{gguf_name}", f'TEMPLATE """{template}"""']
    lines += [f'PARAMETER stop "{s}"' for s in dict.fromkeys(stop) if s and '"' not in s]
    if system:
        lines.append(f'SYSTEM """{system}"""')
    return "\n".join(lines) + "\n"
