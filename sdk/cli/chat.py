"""``openft chat -m MODEL``: talk to a model, with the answer streamed as it is generated.

On a terminal it is an interactive loop (``/reset`` forgets the conversation, ``/exit`` or
Ctrl-D ends it). With ``-p PROMPT``, or with stdin not a terminal, each prompt (each input
line) gets one answer and the command ends, which makes it scriptable:
``echo "What is 2+2?" | openft chat -m ft:tiny-chat:…``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from openai.types.chat import ChatCompletionMessageParam

from sdk._client import Client
from sdk.cli._common import EXIT_OK, make_client
from sdk.cli._output import print_json

PROMPT = ">>> "


def complete(client: Client, args: argparse.Namespace, messages: list[ChatCompletionMessageParam]) -> str:
    """Stream one answer to stdout (or collect it for ``--json``) and return its text."""
    kwargs: dict[str, Any] = {}
    if args.temperature is not None:
        kwargs["temperature"] = args.temperature
    if args.max_tokens is not None:
        kwargs["max_tokens"] = args.max_tokens
    stream = client.chat.completions.create(model=args.model, messages=messages, stream=True, **kwargs)
    parts: list[str] = []
    for chunk in stream:
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta.content or ""
        parts.append(delta)
        if not args.json:
            sys.stdout.write(delta)
            sys.stdout.flush()
    answer = "".join(parts)
    if args.json:
        print_json({"model": args.model, "prompt": messages[-1]["content"], "answer": answer}, lines=True)
    else:
        sys.stdout.write("\n")
        sys.stdout.flush()
    return answer


def _prompts(args: argparse.Namespace, interactive: bool) -> Any:
    if args.prompt is not None:
        yield args.prompt
        return
    while True:
        try:
            line = input(PROMPT) if interactive else sys.stdin.readline()
        except EOFError:
            return
        if not interactive and line == "":
            return
        line = line.rstrip("\n")
        if line.strip():
            yield line


def _chat(args: argparse.Namespace) -> int:
    interactive = args.prompt is None and sys.stdin.isatty() and not args.json
    system: list[ChatCompletionMessageParam] = (
        [{"role": "system", "content": args.system}] if args.system else []
    )
    history: list[ChatCompletionMessageParam] = list(system)
    with make_client(args) as client:
        if interactive:
            print(f"chatting with {args.model}; /reset clears the conversation, /exit or Ctrl-D ends it")
        for prompt in _prompts(args, interactive):
            if interactive and prompt.strip() in ("/exit", "/quit"):
                break
            if interactive and prompt.strip() == "/reset":
                history = list(system)
                continue
            turn: list[ChatCompletionMessageParam] = [{"role": "user", "content": prompt}]
            messages = [*history, *turn] if interactive else [*system, *turn]
            answer = complete(client, args, messages)
            if interactive:
                history = [*messages, {"role": "assistant", "content": answer}]
    return EXIT_OK


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    """Add ``chat`` to the top-level subparsers ``sub``."""
    p = sub.add_parser("chat", parents=[parent], help="chat with a model (answers stream)")
    p.add_argument("-m", "--model", required=True)
    p.add_argument("-p", "--prompt", help="ask one question and exit")
    p.add_argument("-s", "--system", help="system message")
    p.add_argument("--temperature", type=float)
    p.add_argument("--max-tokens", type=int)
    p.set_defaults(handler=_chat)
