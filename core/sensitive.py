"""Personal data and secrets in text: where they are and of which kind, never their values.

Regular expressions with checks that cut false flags (a card number must pass Luhn, an IBAN the
ISO 13616 mod-97 check, an IP address must parse), plus the vendor-specific detectors of
``detect-secrets`` (AWS, GitHub, GitLab, OpenAI, Slack, Stripe, JWT, private keys, ``password =``
assignments, ...). Its entropy detectors are left out: on prose they flag nearly every line.

:func:`find` returns the kinds found in a string with their spans, so a caller can count them
and :func:`redact` can replace them with typed placeholders such as ``[EMAIL]``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any, Final

KINDS: Final = ("email", "phone", "credit_card", "iban", "ip_address", "secret")

_EMAIL: Final = re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}\b")
_PHONE: Final = re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]\d{2,4}){1,4}(?![\w-])")
_CARD: Final = re.compile(r"(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)")
_IBAN: Final = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")
_IPV4: Final = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_IPV6: Final = re.compile(r"(?<![\w:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])")
# KeywordDetector (``password = ...``) costs ten times all the others: only where it can match
# (first a substring test for the keywords, then this)
_KEYWORD_ASSIGNMENT: Final = re.compile(r"(?:pass|pwd|secret|token|key|auth|cred)[\w-]*['\"]?\s*(?::|=|\bis\b)",
                                        re.IGNORECASE)
_KEYWORDS: Final = ("pass", "pwd", "secret", "token", "key", "auth", "cred")
# Every vendor detector's pattern needs one of these markers (JWT, Slack, basic auth in a URL,
# npm, Azure, private keys) or a run of 11+ non-space characters (Artifactory's ``AP?`` + 8 is
# the shortest) holding a digit, a capital, ``_``, ``-`` or a quote: a word of 11+ lower-case
# letters matches none. A text without either skips the twenty detectors.
_LONG_TOKEN: Final = re.compile(r"\S{11,}")
_VENDOR_MARKERS: Final = ("://", "eyj", "xox", "accountkey", "_authtoken", "private key", "putty")
_DIGIT: Final = re.compile(r"\d")
_TOKEN_END: Final = frozenset(" \t\r\n\"'`,;<>()[]{}")
_SECRET_PLUGINS: Final = (
    "AWSKeyDetector", "ArtifactoryDetector", "AzureStorageKeyDetector", "BasicAuthDetector", "DiscordBotTokenDetector",
    "GitHubTokenDetector", "GitLabTokenDetector", "JwtTokenDetector", "KeywordDetector", "MailchimpDetector",
    "NpmDetector", "OpenAIDetector", "PrivateKeyDetector", "PypiTokenDetector", "SendGridDetector",
    "SlackDetector", "SquareOAuthDetector", "StripeDetector", "TelegramBotTokenDetector", "TwilioKeyDetector",
)


@dataclass(frozen=True)
class Finding:
    """One value of ``kind`` at ``start:end`` of the scanned text (the value itself is not kept)."""

    kind: str
    start: int
    end: int


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _iban_ok(value: str) -> bool:
    compact = value.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _ip_ok(value: str) -> bool:
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return False
    if ip.version == 6:
        return len(value) >= 6 and (value.count(":") == 7 or "::" in value)
    return not value.startswith("0.")


@cache
def _secret_detectors() -> tuple[Any, ...]:
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    classes: list[Any] = list(get_mapping_from_secret_type_to_class().values())
    return tuple(cls() for cls in classes if cls.__name__ in _SECRET_PLUGINS)


def _secret_markers(text: str) -> tuple[bool, bool]:
    """Whether the keyword detector, and whether any vendor detector, can match in ``text``."""
    folded = text.lower()  # substring tests: a case-blind regular expression is slower than all seven
    keyword = any(map(folded.__contains__, _KEYWORDS)) and _KEYWORD_ASSIGNMENT.search(text) is not None
    vendor = any(map(folded.__contains__, _VENDOR_MARKERS)) or any(
        not (t.isalpha() and t.islower()) for t in _LONG_TOKEN.findall(text))
    return keyword, vendor


def may_hold(text: str) -> bool:
    """``False`` only where :func:`find` would find nothing: no ``@``, digit, pair of colons or
    secret marker. It stays true of several texts joined by newlines, so one call can clear a
    whole example of plain prose."""
    return "@" in text or _DIGIT.search(text) is not None or text.count(":") >= 2 or any(_secret_markers(text))


def _secrets(text: str) -> Iterator[Finding]:
    keyword, vendor = _secret_markers(text)
    if not (keyword or vendor):
        return
    values = {secret.secret_value for detector in _secret_detectors()
              if (keyword if type(detector).__name__ == "KeywordDetector" else vendor)
              for secret in detector.analyze_line(filename="example.txt", line=text, line_number=1)
              if secret.secret_value}
    for value in values:
        start = text.find(value)
        if start < 0:
            continue
        end = start + len(value)
        # a detector may report only part of the token (GitHub's the ``ghp`` prefix): take all of it
        while start > 0 and text[start - 1] not in _TOKEN_END:
            start -= 1
        while end < len(text) and text[end] not in _TOKEN_END:
            end += 1
        yield Finding("secret", start, end)


def find(text: str) -> list[Finding]:
    """Every piece of personal data or secret in ``text``, without overlaps (first kind wins)."""
    if len(text) > 4096:
        return _find(text)
    return list(_find_cached(text))  # system prompts and labels repeat in nearly every example


@lru_cache(maxsize=4096)
def _find_cached(text: str) -> tuple[Finding, ...]:
    return tuple(_find(text))


def _find(text: str) -> list[Finding]:
    found: list[Finding] = list(_secrets(text))
    if "@" in text:
        found += [Finding("email", m.start(), m.end()) for m in _EMAIL.finditer(text)]
    if _DIGIT.search(text) is None:  # every kind below but IPv6 needs a digit
        found += _ipv6(text)
        return _without_overlaps(found)
    found += [Finding("iban", m.start(), m.end()) for m in _IBAN.finditer(text) if _iban_ok(m.group())]
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and _luhn(digits):
            found.append(Finding("credit_card", m.start(), m.end()))
    found += [Finding("ip_address", m.start(), m.end()) for m in _IPV4.finditer(text) if _ip_ok(m.group())]
    found += _ipv6(text)
    for m in _PHONE.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 9 <= len(digits) <= 15 and (m.group().startswith(("+", "(")) or re.search(r"[ .-]", m.group())):
            found.append(Finding("phone", m.start(), m.end()))
    return _without_overlaps(found)


def _ipv6(text: str) -> list[Finding]:
    if text.count(":") < 2:
        return []
    return [Finding("ip_address", m.start(), m.end()) for m in _IPV6.finditer(text) if _ip_ok(m.group())]


def _without_overlaps(found: list[Finding]) -> list[Finding]:
    kept: list[Finding] = []
    for f in found:  # order above is priority: a card number is not also a phone number
        if all(f.end <= k.start or f.start >= k.end for k in kept):
            kept.append(f)
    return sorted(kept, key=lambda f: f.start)


def redact(text: str) -> tuple[str, list[Finding]]:
    """``text`` with each finding replaced by ``[KIND]``, and the findings."""
    found = find(text)
    out, pos = [], 0
    for f in found:
        out += [text[pos:f.start], f"[{f.kind.upper()}]"]
        pos = f.end
    out.append(text[pos:])
    return "".join(out), found
