"""The tokenizer of ``tiny-chat``: byte-level BPE trained on a generated corpus, ChatML template.

Cheap to build (about a second, no torch): the scheduler counts tokens with it before any
weights exist. The BPE merges come from generated text (ASCII, JSON punctuation, digits split
one by one, common English words) with the ChatML specials; the chat template puts
``{% generation %}`` markers around assistant content *and* its ``<|im_end|>``, so
assistant-only loss also trains the end-of-turn token.
"""

from __future__ import annotations

import json
import random
from typing import Any

from core.tiny_chat.shape import MAX_POSITIONS, SEED, VOCAB_SIZE

PAD, BOS, IM_START, IM_END = "<|pad|>", "<|endoftext|>", "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = [PAD, BOS, IM_START, IM_END]  # ids 0..3 in this order

# Written without whitespace control; transformers compiles templates with trim_blocks, so a
# newline that follows a block tag is emitted as an expression ({{ '\n' }}).
CHAT_TEMPLATE = (
    "{% macro text(content) %}"
    "{% if content is string %}{{ content }}"
    "{% elif content %}{% for part in content %}{% if part.type == 'text' %}{{ part.text }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{% endmacro %}"
    "{% if tools %}"
    "<|im_start|>system\n"
    "{% if messages and messages[0].role == 'system' %}{{ text(messages[0].content) + '\n\n' }}{% endif %}"
    "# Tools"
    "{% for tool in tools %}{{ '\n' }}{{ tool | tojson }}{% endfor %}"
    "<|im_end|>\n"
    "{% endif %}"
    "{% for message in messages %}"
    "{% if not (loop.first and tools and message.role == 'system') %}"
    "{% if message.role == 'assistant' %}"
    "<|im_start|>assistant\n"
    "{% generation %}"
    "{{ text(message.content) }}"
    "{% if message.tool_calls %}{% for call in message.tool_calls %}"
    "{% set fn = call.function if call.function is defined else call %}"
    "{% if message.content or not loop.first %}{{ '\n' }}{% endif %}"
    "<tool_call>{{ '\n' }}{\"name\": \"{{ fn.name }}\", \"arguments\": "
    "{% if fn.arguments is string %}{{ fn.arguments }}{% else %}{{ fn.arguments | tojson }}{% endif %}"
    "}{{ '\n' }}</tool_call>"
    "{% endfor %}{% endif %}"
    "<|im_end|>"
    "{% endgeneration %}{{ '\n' }}"
    "{% else %}"
    "<|im_start|>{{ message.role }}{{ '\n' }}{{ text(message.content) }}<|im_end|>{{ '\n' }}"
    "{% endif %}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant{{ '\n' }}{% endif %}"
)

WORDS = """
the a an and or but not no yes of to in on at for with from by as is are was were be been being
it its this that these those there here what which who whom whose when where why how all any
each every both few more most other some such only own same so than too very can will just
should now i you he she we they me him her us them my your his our their mine yours
do does did done have has had having get got make made take took give gave go went come came
see saw know knew think thought say said tell told ask asked answer answered use used find found
want need like love hate feel try call work play run walk talk read write wrote written
label labels category class classify classification sentiment positive negative neutral mixed
good bad great terrible awful excellent amazing poor fine okay happy sad angry calm glad
review reviews product service movie film book food restaurant hotel price quality delivery
question answer input output result results value values key keys item items list name names
user assistant system tool tools function arguments call calls content role message messages
json text string number numbers integer float true false null none empty
reverse sort sorted count sum total add plus minus times divide equal equals double half
upper lower uppercase lowercase capital capitals country countries city cities language
first last next previous before after start end begin stop one two three four five six
seven eight nine ten eleven twelve hundred thousand million zero
red green blue yellow black white orange purple pink brown gray color colors
cat dog bird fish horse cow animal animals tree trees flower water fire earth air sun moon star
day days week month year time today tomorrow yesterday morning evening night hour minute
man woman child people person friend family home house room door window table chair car bus
train plane ship road street school student teacher class lesson test exam score grade
data file files model models job jobs token tokens step steps epoch loss accuracy error
please thanks thank hello hi goodbye sorry welcome help hint example examples format
translate translation english french german spanish italian word words sentence letter letters
paris london berlin madrid rome tokyo beijing moscow cairo lima ottawa canberra
france england germany spain italy japan china russia egypt peru canada australia
monday tuesday wednesday thursday friday saturday sunday
january february march april may june july august september october november december
weather hot cold warm cool rain snow wind cloud sunny rainy
big small large little long short high low old new young fast slow early late
left right up down top bottom inside outside open close closed full
price cost pay buy sell money dollar dollars euro euros order orders customer customers
email phone address date id code status ok fail failed success pending done
""".split()  # noqa: SIM905 (a word list reads better as text)

_NAMES = "alice bob carol dave eve frank grace heidi ivan judy mallory oscar peggy trent victor walter".split()  # noqa: SIM905


def _corpus(seed: int = SEED) -> list[str]:
    """Generated training text for the BPE merges: words, JSON, digits, punctuation, ChatML."""
    rng = random.Random(seed)
    words = WORDS + _NAMES
    lines: list[str] = []
    printable = "".join(chr(c) for c in range(32, 127))
    for _ in range(40):
        lines.append("".join(rng.sample(printable, len(printable))))
    for _ in range(3000):
        n = rng.randint(3, 14)
        sent = " ".join(rng.choice(words) for _ in range(n))
        style = rng.random()
        if style < 0.25:
            sent = sent.capitalize() + rng.choice([".", "!", "?", ",", ";", ":"])
        elif style < 0.35:
            sent = sent.upper()
        elif style < 0.45:
            sent = sent.title()
        lines.append(sent)
    for _ in range(1500):
        k = rng.choice(words)
        v: Any = rng.choice([rng.choice(words), rng.randint(0, 10**rng.randint(1, 6)), True, False, None,
                             round(rng.random() * 100, 2), [rng.choice(words), rng.choice(words)]])
        obj = {k: v} if rng.random() < 0.5 else {k: v, rng.choice(words): rng.choice(words)}
        lines.append(json.dumps(obj, separators=(",", ":") if rng.random() < 0.3 else (", ", ": ")))
    for _ in range(800):
        a, b = rng.randint(0, 9999), rng.randint(0, 9999)
        op = rng.choice(["+", "-", "*", "/", "=", "<", ">", "%"])
        lines.append(f"{a} {op} {b} = {rng.randint(0, 99999)}; ({a}) [{b}] {{{a}}} #{b} ${a}.{b % 100:02d}")
    for _ in range(300):
        role = rng.choice(["system", "user", "assistant", "tool"])
        lines.append(f"{IM_START}{role}\n{' '.join(rng.choice(words) for _ in range(5))}{IM_END}\n")
    for _ in range(200):
        lines.append(f'<tool_call>\n{{"name": "{rng.choice(words)}", "arguments": {{"{rng.choice(words)}": '
                     f'"{rng.choice(words)}"}}}}\n</tool_call>')
    return lines


def build_tokenizer() -> Any:
    """A ``PreTrainedTokenizerFast`` (byte-level BPE, ChatML specials, chat template)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE, min_frequency=2, special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token=PAD, bos_token=BOS, eos_token=IM_END, unk_token=None,
        additional_special_tokens=[IM_START], model_max_length=MAX_POSITIONS,
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast
