"""The generated pretraining corpus of ``tiny-chat``: short instructions and their answers.

Each skill below is one a fine-tuning job leans on, drawn with many phrasings so that what is
learned is the skill, not a sentence: copying a span of the prompt (made-up names and codes the
model cannot have memorized), finding a keyword wherever it sits in a sentence, answering in a
format (JSON with given keys, one word, yes/no), number words and digits, and stopping at the
end of the answer. :func:`examples` draws ``(system, user, answer)`` triples from a seeded
``random.Random``, so the corpus is the same on every machine.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator

from core.tiny_chat.tokenizer import WORDS as _TOKENIZER_WORDS

Example = tuple[str | None, str, str]

_SYLLABLES = ("ka ro lin ma te su vi na do re mi la be tor an el is ul ga fe zo pi qu ran "
              "mel dar wen tas kor bel sim ya jo ha ne ri ck th sh ve").split()
CATEGORIES: dict[str, list[str]] = {
    "animal": ["cat", "dog", "bird", "fish", "horse", "cow", "lion", "mouse", "rabbit", "sheep"],
    "color": ["red", "green", "blue", "yellow", "black", "white", "orange", "purple", "pink", "brown"],
    "food": ["bread", "cheese", "apple", "rice", "soup", "cake", "pasta", "salad", "pizza", "banana"],
    "weather": ["rain", "snow", "wind", "storm", "fog", "sunshine", "thunder", "hail", "clouds", "frost"],
    "vehicle": ["car", "bus", "train", "plane", "ship", "bike", "truck", "boat", "taxi", "tram"],
    "place": ["school", "hotel", "park", "museum", "library", "airport", "station", "market", "bank", "beach"],
    "music": ["guitar", "piano", "drum", "violin", "song", "concert", "band", "singer", "flute", "melody"],
    "body": ["hand", "head", "foot", "knee", "arm", "eye", "ear", "nose", "tooth", "shoulder"],
}
POSITIVE = ["good", "great", "excellent", "amazing", "wonderful", "lovely", "fantastic", "perfect", "nice"]
NEGATIVE = ["bad", "terrible", "awful", "poor", "horrible", "broken", "disappointing", "useless", "slow"]
URGENT = ["urgent", "asap", "immediately", "right now", "emergency", "as soon as possible"]
FILLER = ("the a my our this that some yesterday today really very quite again still just maybe "
          "I we you they think said saw found had got was is were seems looked felt about with near "
          "for from after before and but so then also there here everyone honestly apparently").split()
#: Words that carry a label in some skill; the frames around keywords must not hold them.
_LABEL_BEARING = ({w for ws in CATEGORIES.values() for w in ws} | set(CATEGORIES) | {c + "s" for c in CATEGORIES}
                  | set(POSITIVE) | set(NEGATIVE) | {"positive", "negative", "neutral", "mixed", "happy", "sad",
                                                   "angry", "glad", "fine", "okay", "calm", "now", "yes", "no"})
#: Words of every kind for the frames around keywords (the tokenizer's word list, less label-bearing ones).
VOCABULARY = sorted({w for w in _TOKENIZER_WORDS if w.isalpha()} - _LABEL_BEARING)
UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
         "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def number_words(n: int, rng: random.Random | None = None) -> str:
    """English words for ``0 <= n < 1000`` (``342`` -> ``three hundred and forty-two``)."""
    if n >= 100:
        hundreds, rest = divmod(n, 100)
        head = f"{UNITS[hundreds]} hundred"
        if not rest:
            return head
        joiner = " and " if rng is None or rng.random() < 0.5 else " "
        return head + joiner + number_words(rest)
    if n < 20:
        return UNITS[n]
    tens, unit = divmod(n, 10)
    return TENS[tens - 2] + (f"-{UNITS[unit]}" if unit else "")


def made_up_name(rng: random.Random) -> str:
    """A capitalized name of 2-3 syllables: a span the model can only copy, never recall."""
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()


def _code(rng: random.Random) -> str:
    letters = "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(rng.randint(1, 3)))
    return f"{letters}-{rng.randint(10, 99999)}"


def _filler(rng: random.Random, lo: int = 0, hi: int = 4) -> str:
    return " ".join(rng.choice(FILLER) for _ in range(rng.randint(lo, hi)))


def _words(rng: random.Random, lo: int, hi: int) -> str:
    """Words from the wide :data:`VOCABULARY`: the frame a keyword sits in, never the same twice."""
    return " ".join(rng.choice(VOCABULARY) for _ in range(rng.randint(lo, hi)))


OPENERS = ["Hi,", "Hello,", "Hey,", "Hi team,", "Hello there,", "Dear team,", "Good morning,", "Good evening,",
           "Sorry,", "Ok so", "Well,", "Note:", "FYI", "Help:", "Update:", "Hmm,", "Listen,", "So,", "Oh,"]
TAILS = ["Thanks.", "Thank you!", "Cheers.", "Please help.", "Any idea?", "Best regards.", "See you.",
         "Let me know.", "Much appreciated.", "Regards, me.", "Sorry for the trouble.", "Is that normal?",
         "What now?", "Ok?", "Bye."]
JOINERS = [" ", " ", " ", ", ", " - ", ": ", " ... ", " / ", "; "]


def _sentence(rng: random.Random, word: str) -> str:
    """A message with ``word`` anywhere in it: a frame drawn from many parts, so no frame is learned.

    Openers, tails, wide-vocabulary filler, joiners and the keyword's case vary independently;
    at the start of the message the keyword is capitalized, as people write it.
    """
    style = rng.randrange(4)
    if style == 0:  # the old short form: a few filler words around the keyword
        parts = [_filler(rng, 0, 4), word, _filler(rng, 0, 4)]
        text = " ".join(p for p in parts if p)
    else:
        lead = _words(rng, 0, 5) if rng.random() < 0.7 else ""
        if lead and rng.random() < 0.4:
            lead = f"{lead} {rng.choice(['the', 'my', 'a', 'our', 'this', 'that', 'your'])}"
        trail = _words(rng, 0, 5)
        text = word if not lead else lead + rng.choice(JOINERS) + word
        if trail:
            text += rng.choice(JOINERS) + trail
        if style >= 2 and rng.random() < 0.5:
            text = f"{rng.choice(OPENERS)} {text}"
    text = text[0].upper() + text[1:]
    text += rng.choice([".", "!", "?", "", "...", "?!"])
    if rng.random() < 0.3:
        text += " " + rng.choice(TAILS)
    return text


def _ask(rng: random.Random, instruction: str, text: str) -> Example:
    """Instruction and input placed one of the ways chat users place them."""
    style = rng.randrange(4)
    if style == 0:
        return instruction, text, ""
    if style == 1:
        return None, f"{instruction}\n{text}", ""
    if style == 2:
        return None, f"{instruction} {text}", ""
    return None, f"{text}\n{instruction}", ""


def _with(example: Example, answer: str) -> Example:
    return example[0], example[1], answer


def extract_json(rng: random.Random) -> Example:
    field = rng.choice(["name", "name", "city", "code", "id", "product", "person", "user"])
    value = _code(rng) if field in ("code", "id") else made_up_name(rng)
    frames = ["{f} {v} {f2}.", "My {k} is {v}.", "{v} {f}.", "Hello, {v} here. {f}", "The {k}: {v}",
              "{f} {k} {v}, {f2}", "Please note: {v}.", "I am {v} and {f2}.", "{f}, {v}!", "It was {v}. {f2}",
              "Ref {v}", "{v}"]
    text = rng.choice(frames).format(f=_filler(rng, 1, 4), f2=_filler(rng, 1, 4), k=field, v=value).strip()
    instruction = rng.choice([
        "Extract the {k} as JSON.", "Return the {k} in JSON.", "What is the {k}? Answer with JSON.",
        "Give me JSON with the {k}.", "JSON only: the {k}.", "Find the {k} and reply in JSON.",
        "Pull out the {k}. Output JSON.", "Output a JSON object with the {k}.",
    ]).format(k=field)
    if rng.random() < 0.25:
        instruction = rng.choice(["What is the {k}?", "Reply with the {k} only.", "Which {k} is mentioned?",
                                  "The {k}, please."]).format(k=field)
        return _with(_ask(rng, instruction, text), value)
    return _with(_ask(rng, instruction, text), json.dumps({field: value}))


PERSON_CLAUSES = ["I am {n}", "this is {n}", "{n} here", "my name is {n}", "it's {n}", "{n} writing",
                  "I'm {n}", "name: {n}", "{n} again", "yours, {n}", "from {n} with thanks", "love, {n}"]
PLACE_CLAUSES = ["from {c}", "in {c}", "based in {c}", "I live in {c}", "writing from {c}", "near {c}",
                 "city: {c}", "back in {c}", "visiting {c}", "at the {c} office"]


def person_and_place(rng: random.Random) -> Example:
    """A made-up person and a made-up city in one message, in either order: copy the one asked for."""
    person, place = made_up_name(rng), made_up_name(rng)
    clauses = [rng.choice(PERSON_CLAUSES).format(n=person), rng.choice(PLACE_CLAUSES).format(c=place)]
    rng.shuffle(clauses)
    text = clauses[0] + rng.choice([", ", ". ", " and ", " - ", " "]) + clauses[1]
    if rng.random() < 0.4:
        text += rng.choice(JOINERS) + _words(rng, 1, 5)
    text = text[0].upper() + text[1:] + rng.choice([".", "!", ""])
    field, value = rng.choice([("name", person), ("name", person), ("person", person), ("city", place),
                               ("place", place)])
    instruction = rng.choice([
        "Extract the {k} as JSON.", "Return the {k} in JSON.", "Give me JSON with the {k}.",
        "Find the {k}. Reply with JSON.", "JSON with the {k}, please.", "Output the {k} as a JSON object.",
    ]).format(k=field)
    if rng.random() < 0.2:
        return _with(_ask(rng, rng.choice(["What is the {k}?", "The {k} only."]).format(k=field), text), value)
    return _with(_ask(rng, instruction, text), json.dumps({field: value}))


def spot(rng: random.Random) -> Example:
    """Which of the listed words the message contains, wherever it sits and however it is capitalized."""
    makers = [lambda r: made_up_name(r).lower(), lambda r: r.choice(VOCABULARY),
              lambda r: r.choice(CATEGORIES[r.choice(sorted(CATEGORIES))])]
    options: list[str] = []
    while len(options) < rng.randint(2, 4):
        word = rng.choice(makers)(rng)
        if word not in options:
            options.append(word)
    answer = rng.choice(options)
    instruction = rng.choice([
        "Which word is in the text: {o}?", "Which of {o} does it mention?", "Which one appears ({o})?",
        "Mentioned - {o}? Answer with the word.", "One of {o} is in there. Which?",
    ]).format(o=", ".join(options))
    return _with(_ask(rng, instruction, _sentence(rng, answer)), answer)


LOOKUP_LABELS = ["sales", "support", "legal", "finance", "design", "kitchen", "garden", "security", "travel",
                 "research", "payroll", "repairs", "press", "admin", "shop", "lab"]


def lookup(rng: random.Random) -> Example:
    """Route a message by a table in the prompt: find which listed keyword it holds, answer that label."""
    labels = rng.sample(LOOKUP_LABELS, rng.randint(2, 4))
    table = {label: sorted({made_up_name(rng).lower() if rng.random() < 0.5 else rng.choice(VOCABULARY)
                            for _ in range(rng.randint(1, 3))}) for label in labels}
    label = rng.choice(labels)
    keyword = rng.choice(table[label])
    rows = [f"{lab}: {', '.join(words)}" for lab, words in table.items()]
    key = rng.choice(["team", "queue", "department", "label", "group"])
    system = rng.choice(["Route by keyword.", "Pick the {k} from the keyword.", "Keywords per {k}:"]).format(k=key)
    system += rng.choice(["\n", " "]) + rng.choice(["\n", "; "]).join(rows)
    answer = json.dumps({key: label}) if rng.random() < 0.6 else label
    if answer != label:
        system += rng.choice([" Reply in JSON.", " Answer with JSON.", "\nJSON only."])
    return system, _sentence(rng, keyword), answer


def repeat(rng: random.Random) -> Example:
    pool = [made_up_name, _code, lambda r: r.choice(FILLER), lambda r: str(r.randint(0, 9999)),
            lambda r: r.choice(CATEGORIES[r.choice(sorted(CATEGORIES))])]
    text = " ".join(rng.choice(pool)(rng) for _ in range(rng.randint(1, 6)))
    instruction = rng.choice(["Repeat:", "Say exactly:", "Copy this:", "Echo back:", "Repeat after me:",
                              "Write this again:", "Return the text unchanged:"])
    return _with(_ask(rng, instruction, text), text)


def categorize(rng: random.Random) -> Example:
    names = rng.sample(sorted(CATEGORIES), rng.randint(2, 5))
    label = rng.choice(names)
    text = _sentence(rng, rng.choice(CATEGORIES[label]))
    options = ", ".join(names)
    instruction = rng.choice([
        "Which topic is this: {o}?", "Classify the text as one of: {o}.", "Topic ({o})? One word.",
        "Pick the category ({o}).", "Label it with one of {o}.", "Answer with one word: {o}.",
    ]).format(o=options)
    return _with(_ask(rng, instruction, text), label)


def mentions(rng: random.Random) -> Example:
    label = rng.choice(sorted(CATEGORIES))
    yes = rng.random() < 0.5
    pool = CATEGORIES[label] if yes else CATEGORIES[rng.choice([c for c in sorted(CATEGORIES) if c != label])]
    instruction = rng.choice(["Does it mention a {c}? yes or no.", "Is there a {c} in the text? Answer yes or no.",
                              "Any {c} here? (yes/no)"]).format(c=label)
    return _with(_ask(rng, instruction, _sentence(rng, rng.choice(pool))), "yes" if yes else "no")


def sentiment(rng: random.Random) -> Example:
    positive = rng.random() < 0.5
    text = _sentence(rng, rng.choice(POSITIVE if positive else NEGATIVE))
    labels = rng.choice([("positive", "negative"), ("good", "bad"), ("happy", "unhappy"), ("pos", "neg")])
    instruction = rng.choice(["Sentiment: {a} or {b}?", "Is this review {a} or {b}?", "Classify: {a}/{b}.",
                              "Answer {a} or {b}."]).format(a=labels[0], b=labels[1])
    return _with(_ask(rng, instruction, text), labels[0] if positive else labels[1])


def route(rng: random.Random) -> Example:
    names = rng.sample(sorted(CATEGORIES), 3)
    label = rng.choice(names)
    high = rng.random() < 0.5
    text = _sentence(rng, rng.choice(CATEGORIES[label]))
    text += f" {rng.choice(URGENT)}!" if high else rng.choice([" Thanks.", " No rush.", "", " Cheers."])
    key, level = rng.choice([("team", "priority"), ("topic", "urgency"), ("category", "priority"),
                             ("queue", "level")])
    low = rng.choice(["normal", "low"])
    instruction = rng.choice([
        'Route it ({o}). JSON with "{k}" and "{p}".', 'Answer JSON: {{"{k}": one of {o}, "{p}": high or {lo}}}.',
        'Return {{"{k}", "{p}"}} as JSON; {k} is one of {o}.',
    ]).format(o=", ".join(names), k=key, p=level, lo=low)
    return _with(_ask(rng, instruction, text), json.dumps({key: label, level: "high" if high else low}))


def numbers(rng: random.Random) -> Example:
    n = rng.randrange(100) if rng.random() < 0.6 else rng.randrange(1000)
    words = number_words(n, rng)
    if rng.random() < 0.6:
        instruction = rng.choice(["Write in digits:", "As a number:", "Digits for", "Convert to digits:",
                                  "Number:", "How is this written with digits?"])
        return _with(_ask(rng, instruction, words), str(n))
    instruction = rng.choice(["Write in words:", "Spell out", "In words:", "Say this number in words:"])
    return _with(_ask(rng, instruction, str(n)), words)


def digits(rng: random.Random) -> Example:
    n = rng.randrange(10, 10**rng.randint(2, 6))
    kind = rng.randrange(3)
    if kind == 0:
        return _with(_ask(rng, rng.choice(["Last digit of", "What is the last digit?"]), str(n)), str(n % 10))
    if kind == 1:
        return _with(_ask(rng, rng.choice(["First digit of", "What is the first digit?"]), str(n)), str(n)[0])
    a, b = rng.randrange(50), rng.randrange(50)
    return _with(_ask(rng, rng.choice(["Add:", "Sum:", "What is"]), f"{a} + {b}"), str(a + b))


def words(rng: random.Random) -> Example:
    items = [rng.choice(CATEGORIES[rng.choice(sorted(CATEGORIES))]) for _ in range(rng.randint(2, 6))]
    kind = rng.randrange(3)
    text = " ".join(items)
    if kind == 0:
        return _with(_ask(rng, rng.choice(["First word?", "What is the first word:"]), text), items[0])
    if kind == 1:
        return _with(_ask(rng, rng.choice(["Last word?", "What is the last word:"]), text), items[-1])
    return _with(_ask(rng, rng.choice(["How many words?", "Count the words:"]), text), str(len(items)))


def greeting(rng: random.Random) -> Example:
    user = rng.choice(["Hello", "Hi", "Hey", "Good morning", "Thanks", "Thank you", "Bye"])
    answer = {"Thanks": "You're welcome.", "Thank you": "You're welcome.", "Bye": "Goodbye!"}.get(
        user, "Hello! How can I help?")
    return None, user + rng.choice(["", "!", "."]), answer


SKILLS: list[tuple[Callable[[random.Random], Example], int]] = [
    (extract_json, 4), (person_and_place, 3), (repeat, 3), (spot, 3), (lookup, 3), (categorize, 4),
    (mentions, 2), (sentiment, 2), (route, 3), (numbers, 4), (digits, 2), (words, 2), (greeting, 1),
]


def examples(seed: int) -> Iterator[Example]:
    """An endless, seeded stream of ``(system, user, answer)`` drawn across :data:`SKILLS`."""
    rng = random.Random(seed)
    makers = [make for make, weight in SKILLS for _ in range(weight)]
    while True:
        yield rng.choice(makers)(rng)
