"""The exchange log's SQL schema, and how an `Exchange` becomes a row and a row an `Entry`."""

from __future__ import annotations

import json
import sqlite3
import unicodedata
from dataclasses import dataclass
from typing import Any

from ._exchange import Exchange

__all__ = [
    "ANSWERED",
    "COLUMNS",
    "FTS",
    "SCHEMA",
    "SCHEMA_VERSION",
    "Entry",
    "entry_of",
    "fts_query",
    "indexed",
    "like_pattern",
    "row_of",
    "search_words",
]

SCHEMA_VERSION = 1

COLUMNS = (
    "started, duration, source, model, host, conversation, system, prompt, messages, "
    "attachments, options, answer, reasoning, input_tokens, output_tokens, reasoning_tokens, "
    "cached_tokens, finish_reason, status, error, from_cache, cache_key"
)

ANSWERED = (
    "(status IN ('complete', 'truncated') "
    "OR (status = 'interrupted' AND (answer != '' OR reasoning != '')))"
)
"""SQL: the row is an answer usage counts (as `_exchange.answered` decides for a reply)."""

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS exchanges (
    id INTEGER PRIMARY KEY,
    started REAL NOT NULL,
    duration REAL NOT NULL,
    source TEXT NOT NULL,
    model TEXT NOT NULL,
    host TEXT NOT NULL,
    conversation TEXT,
    system TEXT,
    prompt TEXT NOT NULL,
    messages TEXT NOT NULL,
    attachments TEXT NOT NULL,
    options TEXT NOT NULL,
    answer TEXT NOT NULL,
    reasoning TEXT NOT NULL,
    input_tokens INTEGER,
    output_tokens INTEGER,
    reasoning_tokens INTEGER,
    cached_tokens INTEGER,
    finish_reason TEXT,
    status TEXT NOT NULL,
    error TEXT,
    from_cache INTEGER NOT NULL,
    cache_key TEXT
);
CREATE INDEX IF NOT EXISTS exchanges_cache ON exchanges (cache_key) WHERE status = 'complete';
CREATE INDEX IF NOT EXISTS exchanges_started ON exchanges (started);
CREATE TABLE IF NOT EXISTS images (
    exchange_id INTEGER NOT NULL REFERENCES exchanges (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    mime TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (exchange_id, position)
);
PRAGMA user_version = {SCHEMA_VERSION};
"""

FTS = """
CREATE VIRTUAL TABLE IF NOT EXISTS exchanges_fts USING fts5(
    prompt, answer, content='exchanges', content_rowid='id'
);
CREATE TRIGGER IF NOT EXISTS exchanges_fts_insert AFTER INSERT ON exchanges BEGIN
    INSERT INTO exchanges_fts (rowid, prompt, answer) VALUES (new.id, new.prompt, new.answer);
END;
"""


@dataclass
class Entry:
    """One logged exchange as read back (`images` holds (mime, bytes) pairs when asked for)."""

    id: int
    started: float
    duration: float
    source: str
    model: str
    host: str
    conversation: str | None
    system: str | None
    prompt: str
    messages: list[dict[str, Any]]
    attachments: list[dict[str, Any]]
    options: dict[str, Any]
    answer: str
    reasoning: str
    input_tokens: int | None
    output_tokens: int | None
    reasoning_tokens: int | None
    cached_tokens: int | None
    finish_reason: str | None
    status: str
    error: str | None
    from_cache: bool
    cache_key: str | None
    images: list[tuple[str, bytes]]


def row_of(e: Exchange) -> tuple[Any, ...]:
    def dump(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, default=str)

    return (
        e.started,
        e.duration,
        e.source,
        e.model,
        e.host,
        e.conversation,
        e.system,
        e.prompt,
        dump(e.messages),
        dump(e.attachments),
        dump(e.options),
        e.answer,
        e.reasoning,
        e.input_tokens,
        e.output_tokens,
        e.reasoning_tokens,
        e.cached_tokens,
        e.finish_reason,
        e.status,
        e.error,
        int(e.from_cache),
        e.cache_key,
    )


def entry_of(row: sqlite3.Row, images: list[tuple[str, bytes]]) -> Entry:
    values = dict(row)
    for name in ("messages", "attachments", "options"):
        values[name] = json.loads(values[name])
    values["from_cache"] = bool(values["from_cache"])
    return Entry(**values, images=images)


def search_words(text: str | None) -> list[str]:
    """The words of a search: split at whitespace only, every other character kept (quotes,
    ``*``, ``-`` are part of words, never query syntax). No words: no search."""
    return (text or "").split()


def indexed(word: str) -> bool:
    """Whether FTS5 (the ``unicode61`` tokenizer) indexes anything of `word`: letters, numbers
    and marks are token characters, the rest separators. A word of punctuation alone (``*``,
    ``-``, ``"``) is not in the index, so it is searched for as text (`like_pattern`)."""
    return any(
        unicodedata.category(ch)[0] in "LNM" or unicodedata.category(ch) == "Co" for ch in word
    )


def like_pattern(word: str) -> str:
    """A LIKE pattern (with ``ESCAPE '\\'``) for text containing `word` as written."""
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def fts_query(words: list[str]) -> str:
    """The indexed `words` as quoted FTS5 phrases, all required (user text is never syntax)."""
    return " ".join('"' + word.replace('"', '""') + '"' for word in words if indexed(word))
