"""What a new password must not be: a common one, a keyboard or alphabet run, a repetition, or control characters.

The length rule (10 to 256) lives with the field type; this is the rest of
NIST SP 800-63B's advice for memorised secrets. The list of common passwords
ships with the package (common_passwords.txt). Each candidate is compared
after folding case and width, also with the digits and symbols people add at
either end removed and with l33t spelling undone, so `Password12`, `P@ssw0rd!`
and `2024dragon` count as the words they are built from. Used by registration,
`klear create-admin` and any other place a password is set.
"""

from __future__ import annotations

import string
import unicodedata
from functools import lru_cache
from importlib import resources

_AFFIXES = string.digits + string.punctuation + " "
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", "$": "s", "!": "i"})
_RUNS = ("01234567890", "abcdefghijklmnopqrstuvwxyz", "qwertyuiop", "asdfghjkl", "zxcvbnm", "1qaz2wsx3edc4rfv5tgb",
         "qazwsxedcrfvtgbyhnujmikolp", "1q2w3e4r5t6y7u8i9o0p")
_MIN_DISTINCT = 4


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    text = resources.files("server.auth").joinpath("common_passwords.txt").read_text("utf-8")
    return frozenset(line for line in text.splitlines() if line and not line.startswith("#"))


def _is_run(text: str) -> bool:
    """A stretch of one alphabet, digit or keyboard sequence, forwards or backwards."""
    return len(text) >= 3 and any(text in run or text in run[::-1] for run in _RUNS)


def _repeats_a_unit(text: str) -> bool:
    """`abcabcabc`, `Ab1!Ab1!Ab1!`, `monkeymonkey`: a short unit, or a common word, said again and again."""
    for size in range(1, len(text) // 2 + 1):
        unit = text[:size]
        if (unit * (len(text) // size + 1)).startswith(text):
            return size <= 3 or len(text) >= 3 * size or unit in common_passwords() or _is_run(unit)
    return False


def problem(password: str) -> str | None:
    """Why `password` may not be used, or None if it may."""
    if any(unicodedata.category(c) == "Cc" for c in password):
        return "must not contain control characters"
    folded = unicodedata.normalize("NFKC", password).casefold()
    core = folded.strip(_AFFIXES)
    if len(set(folded)) < _MIN_DISTINCT:
        return "uses too few different characters"
    common = common_passwords()
    for candidate in {folded, core, folded.replace(" ", ""), core.replace(" ", "")}:
        for form in (candidate, candidate.translate(_LEET)):
            if form in common:
                return "is one of the most commonly used passwords"
            if form and (_is_run(form) or _repeats_a_unit(form)):
                return "is a keyboard or alphabet sequence or a repetition"
    return None
