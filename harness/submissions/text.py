"""What untrusted text may contain: no control characters, no bidi tricks, bounded length, safe links.

Manifest text ends up in terminals, JSON records and leaderboard pages. Control characters can
rewrite a terminal line, and bidi controls (the "Trojan Source" characters) make text display in
an order other than the one it is stored in, so a name could read as someone else's. Links must be
https: a `javascript:` or `data:` homepage would run in a reader's browser.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

from harness.errors import MedbenchError

# U+061C, U+200E/F, U+202A–U+202E, U+2066–U+2069: the characters that reorder displayed text.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
LINE_SEPARATORS = frozenset("\u2028\u2029")  # break lines where a reader expects none
SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def check_text(value: object, field: str, max_len: int, multiline: bool = False) -> str:
    """Return the text stripped, or raise naming the field and the first bad character."""
    if not isinstance(value, str):
        raise MedbenchError(f"manifest field {field!r} must be text, not {_kind(value)}; quote it in the YAML")
    text = value.strip()
    if not text:
        raise MedbenchError(f"manifest field {field!r} is empty; fill it in")
    if len(text) > max_len:
        raise MedbenchError(f"manifest field {field!r} is {len(text):,} characters, over the limit of {max_len:,}; shorten it")
    for position, char in enumerate(text):
        if _forbidden(char, multiline):
            what = "a bidi control character" if char in BIDI_CONTROLS else "a control character"
            raise MedbenchError(f"manifest field {field!r} contains {what} (U+{ord(char):04X} at position {position}); "
                                "remove it")
    return text


def check_slug(value: object, field: str, max_len: int) -> str:
    text = check_text(value, field, max_len)
    if not SLUG.fullmatch(text):
        raise MedbenchError(f"manifest field {field!r} must be a slug (lower-case letters, digits and single hyphens, "
                            f"e.g. my-lab-resnet50), not {text!r}")
    return text


def check_https_url(value: object, field: str, max_len: int) -> str:
    """An absolute https URL with a host and no credentials; nothing a browser would execute."""
    text = check_text(value, field, max_len)
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise MedbenchError(f"manifest field {field!r} is not a valid URL: {text!r}") from None
    if parts.scheme != "https":
        raise MedbenchError(f"manifest field {field!r} must be an https:// URL, not {parts.scheme or 'a relative'}: "
                            f"{text!r}")
    if not parts.hostname or parts.username or parts.password or any(c.isspace() for c in text):
        raise MedbenchError(f"manifest field {field!r} must be https://HOST/... without spaces or credentials: {text!r}")
    return text


def check_contact(value: object, field: str, max_len: int) -> str:
    """An email address or an https URL: both render as links, so both must be safe links."""
    text = check_text(value, field, max_len)
    if EMAIL.fullmatch(text):
        return text
    if text.startswith("https://"):
        return check_https_url(text, field, max_len)
    raise MedbenchError(f"manifest field {field!r} must be an email address or an https:// URL, not {text!r}")


def check_text_list(value: object, field: str, max_items: int, max_len: int) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise MedbenchError(f"manifest field {field!r} must be a non-empty YAML list of text, not {_kind(value)}")
    if len(value) > max_items:
        raise MedbenchError(f"manifest field {field!r} has {len(value)} entries, over the limit of {max_items}")
    return tuple(check_text(item, f"{field}[{i}]", max_len) for i, item in enumerate(value))


def normalised(text: str) -> str:
    """'My-Lab ResNet50!', 'my lab resnet 50' and 'Му-Lаb ResNet50' (Cyrillic М, у, а) compare equal.

    NFKC, then invisible format characters (zero-width, Unicode tag characters) dropped, then each
    character that Unicode lists as confusable with a Latin one (confusable-homoglyphs' data) replaced
    by it, case-folded, letters and digits only: a look-alike name cannot pass the duplicate check."""
    visible = "".join(char for char in unicodedata.normalize("NFKC", text) if unicodedata.category(char) != "Cf")
    return re.sub(r"[\W_]+", "", "".join(_latin_skeleton(char) for char in visible).casefold())


def _latin_skeleton(char: str) -> str:
    if char.isascii():
        return char
    from confusable_homoglyphs import confusables

    found = confusables.is_confusable(char, greedy=True, preferred_aliases=["latin", "common"]) or []
    latin = [glyph["c"] for entry in found for glyph in entry["homoglyphs"] if glyph["c"].isascii()]
    return latin[0] if latin else char


def _forbidden(char: str, multiline: bool) -> bool:
    if multiline and char in "\n\t":
        return False
    return (char in BIDI_CONTROLS or char in LINE_SEPARATORS or unicodedata.category(char) == "Cc"
            or char == "\ufeff")  # a stray byte-order mark hides inside text


def _kind(value: object) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", list: "a list", dict: "a mapping", type(None): "empty"}
    return names.get(type(value), type(value).__name__)
