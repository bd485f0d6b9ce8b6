"""Typo tolerance without pg_trgm: query words are matched to the vocabulary of names, modalities, places and
offering names by shared trigrams (storage's GIN index narrows the candidates), then kept by edit distance.

A word of up to four letters tolerates one edit, a longer one two; a
transposition counts as one edit (optimal string alignment), since swapped
letters are the commonest slip on a phone keyboard. As a spelling checker
does, a word the vocabulary knows is taken as written ("Leeds" is not also
Lee or Lewis), and of a misspelt word's neighbours only the closest are kept
("okafr" is Okafor, one edit away, not also Omar, two): every extra
alternative widens the match set the ranking must score, and ranks people
the searcher did not ask for.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping

_WORD = re.compile(r"[^\W\d_]+")
MAX_WORDS = 8


def words(query: str) -> list[str]:
    """The query's words: lower-case letters only, NFC, in order, without repeats, at most MAX_WORDS."""
    found = _WORD.findall(unicodedata.normalize("NFC", query).lower())
    return list(dict.fromkeys(found))[:MAX_WORDS]


def allowed_edits(word: str) -> int:
    return 1 if len(word) <= 4 else 2


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance of `a` and `b`, or limit + 1 once it is known to exceed `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


def corrections(word: str, near: Iterable[str]) -> list[str]:
    """The vocabulary words at the smallest distance within the allowed edits of `word` (at most five, in
    order); none when the vocabulary holds `word` itself."""
    candidates = set(near)
    if word in candidates:
        return []
    limit = allowed_edits(word)
    scored = sorted((d, v) for v in candidates if (d := edit_distance(word, v, limit)) <= limit)
    return [v for d, v in scored[:5] if d == scored[0][0]]


def groups(query_words: list[str], near: Mapping[str, Iterable[str]]) -> list[str]:
    """One tsquery text per word: the word or any of its corrections. Words are letters only, quoted."""
    return [" | ".join(f"'{w}'" for w in [word, *corrections(word, near.get(word, ()))]) for word in query_words]
