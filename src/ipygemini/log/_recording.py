"""The log and the cache around one chat request: who asked (`LogTags`), the answer from the
log instead of the network (`Recorder.lookup`), and the exchange written once its reply ends.

Every front end passes its tags as chat options (``source="magic"``, ``conversation="plan"``,
``cache=True``, ``refresh=True``); `Core.chat_request` takes them off before the body is built.
Writing happens once per reply, when it ends (complete, interrupted or failed), never per chunk.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._types import Choice, Event, GeneratedImage, Reply, Usage
from ._exchange import SOURCES

if TYPE_CHECKING:
    from .._settings import Settings
    from ._store import Entry, ExchangeLog

__all__ = ["SOURCES", "LogTags", "Recorder", "exchange_log", "fill_from_entry", "reply_from_entry"]


_logs: dict[Path, ExchangeLog] = {}
_logs_lock = threading.Lock()


def exchange_log(path: Path | None = None) -> ExchangeLog:
    """The process's `ExchangeLog` for `path` (default: ``$IPYGEMINI_HOME/log.sqlite3``, read
    now, so a changed ``IPYGEMINI_HOME`` takes effect at the next request)."""
    from ._store import ExchangeLog, default_path

    path = path or default_path()
    with _logs_lock:
        found = _logs.get(path)
        if found is None:
            found = _logs[path] = ExchangeLog(path)
        return found


@dataclass(frozen=True, slots=True)
class LogTags:
    """Who asked and how the cache is used: the chat options `source`, `conversation`,
    `cache` (None: the client's `Settings.cache`) and `refresh` (ask again, store the answer)."""

    source: str = "client"
    conversation: str | None = None
    cache: bool | None = None
    refresh: bool = False

    @classmethod
    def take(cls, options: dict[str, Any]) -> LogTags:
        """The tags among chat `options` (removed from them), validated."""
        from .._errors import OptionError

        source = options.pop("source", None) or "client"
        conversation = options.pop("conversation", None)
        cache = options.pop("cache", None)
        refresh = bool(options.pop("refresh", False))
        if source not in SOURCES:
            raise OptionError(f"source must be one of {', '.join(SOURCES)}; got {source!r}.")
        if conversation is not None and not isinstance(conversation, str):
            raise OptionError(f"conversation must be a name (str); got {conversation!r}.")
        return cls(source, conversation, None if cache is None else bool(cache), refresh)


class Recorder:
    """One request's log entry: started when the request is made, written once at its end."""

    __slots__ = ("_t0", "done", "key", "settings", "started", "tags")

    def __init__(self, settings: Settings, tags: LogTags) -> None:
        self.settings = settings
        self.tags = tags
        self.started = time.time()
        self._t0 = time.perf_counter()
        self.done = False
        self.key: str | None = None
        """The cache key of what the user asked (see `asked`); None until the body is built."""

    @property
    def gateway(self) -> str:
        """The gateway as the cache key names it: its base URL, or "offline" for the built-in
        offline gateway (whose port changes with every process)."""
        return "offline" if self.settings.offline else self.settings.base_url

    def asked(self, body: Mapping[str, Any]) -> None:
        """Key the request on `body`, what the user asked, before a gateway's lessons (the
        ``json_object`` fallback, a thinking level it accepts) rewrote what is sent: the
        same question finds its answer from every client, before and after the lesson."""
        from ._exchange import cache_key

        self.key = cache_key(body, self.gateway)

    def _key(self, body: Mapping[str, Any]) -> str:
        if self.key is not None:
            return self.key
        from ._exchange import cache_key

        return cache_key(body, self.gateway)

    @property
    def uses_cache(self) -> bool:
        """Answer from the log when it can (cache on, and not `refresh`)."""
        on = self.settings.cache if self.tags.cache is None else self.tags.cache
        return on and not self.tags.refresh

    def lookup(self, body: Mapping[str, Any]) -> Entry | None:
        """The newest complete answer to this very request, or None. The log keeps one answer's
        text, thinking and images, not tool calls: a request for ``n > 1`` answers or one that
        offers tools is never answered from it."""
        n = body.get("n")
        if (isinstance(n, int) and n > 1) or body.get("tools"):
            return None
        entry = exchange_log().lookup(self._key(body))
        if entry is not None and entry.finish_reason == "tool_calls":
            return None  # the log keeps no tool calls: such an answer cannot be replayed whole
        return entry

    def finish(self, body: Mapping[str, Any], reply: Reply, *, wait: bool = True) -> None:
        """The reply ended: add its usage to the session's tally and write the exchange (once;
        ``wait=False``: skip it rather than wait for this process's other write)."""
        if self.done:
            return
        self.done = True
        from ._usage import SESSION

        model = str(body.get("model") or "")
        SESSION.add_reply(model, reply, offline=self.settings.offline)
        if not self.settings.log:
            return
        from ._exchange import exchange_from

        exchange = exchange_from(
            body,
            reply,
            source=self.tags.source,
            base_url=self.settings.base_url,
            started=self.started,
            duration=time.perf_counter() - self._t0,
            conversation=self.tags.conversation,
            from_cache=reply.cached,
            offline=self.settings.offline,
        )
        exchange.cache_key = self._key(body)
        exchange_log().record(exchange, secret=self.settings.api_key, wait=wait)

    def failed(self, body: Mapping[str, Any], exc: BaseException) -> None:
        """A non-streamed request ended without an answer: logged as failed (or interrupted)."""
        from .._errors import GeminiError

        if isinstance(exc, GeminiError):
            self.finish(body, Reply(error=exc))
        elif isinstance(exc, KeyboardInterrupt | _cancelled()):
            self.finish(body, Reply(interrupted=True))


def _cancelled() -> type[BaseException]:
    import asyncio

    return asyncio.CancelledError


def fill_from_entry(reply: Reply, entry: Entry) -> list[Event]:
    """Make `reply` (in place: a stream's caller may already hold it) the logged answer
    `entry`, marked ``cached``; the events a display shows for it (`Reply.events`)."""
    images = [GeneratedImage(data, mime) for mime, data in entry.images]
    reply.choices = [Choice(0, entry.answer, entry.reasoning, images, entry.finish_reason)]
    reply.model = entry.model or None
    reply.cached = True
    if entry.input_tokens is not None or entry.output_tokens is not None:
        prompt, completion = entry.input_tokens or 0, entry.output_tokens or 0
        reply.usage = Usage(
            prompt,
            completion,
            prompt + completion,
            entry.reasoning_tokens or 0,
            entry.cached_tokens,
        )
    return reply.events()


def reply_from_entry(entry: Entry) -> Reply:
    """A new `Reply` holding the logged answer `entry` (``cached=True``)."""
    reply = Reply()
    fill_from_entry(reply, entry)
    return reply
