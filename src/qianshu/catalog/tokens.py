"""Search tokens for Chinese and English, the same on SQLite and PostgreSQL.

Chinese is written without spaces and both engines' tokenisers split on spaces, so text is
tokenised here, in Python, and stored as a space-separated token string:

- a run of CJK characters → every single character and every overlapping pair
  (交通数据 → 交 通 数 据 交通 通数 数据), so that two-character words (交通, 医保, 气象)
  and one-character queries are found;
- Latin letters → lower-case English stems (Snowball's English stemmer: ``Traffic`` →
  ``traffic``, ``drivers`` and ``driver`` → ``driver``, ``running`` → ``run``), so that a
  query finds the other forms of its words; digits → number tokens (``2024``); a word mixing
  both is split at the change (``G54`` → ``g``, ``54``);
- everything else (punctuation, emoji, control characters, FTS syntax) separates tokens.

A query is tokenised the same way, except that a CJK run of two or more characters gives
only its pairs. Every query token must be present (AND). Tokens contain only letters and
digits, so no user text ever reaches the engine's query syntax.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache

import snowballstemmer

MAX_QUERY_TOKENS = 24
MAX_TOKEN_LENGTH = 40

_CJK_RANGES = (
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2EBEF),
    (0x30000, 0x3134F),
)
_LATIN = re.compile(r"[a-z]+|[0-9]+")
_STEMMER = snowballstemmer.stemmer("english")
_STEM_LOCK = threading.Lock()  # a Snowball stemmer keeps its word in the instance: not thread-safe


def is_cjk(ch: str) -> bool:
    code = ord(ch)
    return any(lo <= code <= hi for lo, hi in _CJK_RANGES)


def _runs(text: str) -> list[tuple[bool, str]]:
    """Split into (is_cjk, run) pieces; anything neither CJK nor alphanumeric separates."""
    text = unicodedata.normalize("NFKC", text).lower()
    runs: list[tuple[bool, str]] = []
    current: list[str] = []
    current_cjk = False
    for ch in text:
        cjk = is_cjk(ch)
        word = ch.isascii() and ch.isalnum()
        if not (cjk or word):
            if current:
                runs.append((current_cjk, "".join(current)))
            current = []
            continue
        if current and cjk != current_cjk:
            runs.append((current_cjk, "".join(current)))
            current = []
        current_cjk = cjk
        current.append(ch)
    if current:
        runs.append((current_cjk, "".join(current)))
    return runs


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The English stem of a lower-case word; numbers are kept as they are. Cached: a catalogue
    reuses few words, and reindexing 100,000 products stems each distinct word once."""
    if not word.isalpha():
        return word
    with _STEM_LOCK:
        return str(_STEMMER.stemWord(word))


def _latin_tokens(run: str) -> list[str]:
    return [stem(t)[:MAX_TOKEN_LENGTH] for t in _LATIN.findall(run)]


def index_tokens(*texts: str) -> str:
    """The token string stored with a listing or demand (unigrams and bigrams for CJK)."""
    out: list[str] = []
    for text in texts:
        for cjk, run in _runs(text or ""):
            if cjk:
                out.extend(run)
                out.extend(run[i : i + 2] for i in range(len(run) - 1))
            else:
                out.extend(_latin_tokens(run))
    return " ".join(out)


def query_tokens(query: str) -> list[str]:
    """Distinct tokens of a user's query, in order, at most ``MAX_QUERY_TOKENS``."""
    out: list[str] = []
    for cjk, run in _runs(query or ""):
        if cjk:
            out.extend([run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)])
        else:
            out.extend(_latin_tokens(run))
    seen: dict[str, None] = {}
    for token in out:
        seen.setdefault(token, None)
    return list(seen)[:MAX_QUERY_TOKENS]


def fts5_match(tokens: list[str]) -> str:
    """An FTS5 MATCH expression: every token quoted (tokens hold no quote), implicitly ANDed."""
    return " ".join(f'"{t}"' for t in tokens)
