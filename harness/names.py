"""The one place a name from a card, recipe or record (task, recipe, init, backbone) becomes a path component.

Names are text, never paths: anything but a short slug is refused here, before a writer joins it to a
folder, so `name: ../../x` or an absolute name cannot put a file outside the folders the user named.
"""

from __future__ import annotations

import re

from harness.errors import MedbenchError

SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")


def safe_name(text: object, what: str = "name") -> str:
    """`text` when it is a slug (letters, digits, `._+-`, not starting with `.`, no `..`, ≤ 128 chars); else an error."""
    if not isinstance(text, str) or not SAFE_NAME.fullmatch(text) or ".." in text:
        raise MedbenchError(f"{what} {text!r} is not a safe name: use letters, digits and . _ + - "
                            "(starting with a letter or digit, no '..', at most 128 characters)")
    return text
