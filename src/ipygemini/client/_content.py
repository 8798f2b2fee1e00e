"""The content channel of one choice: a state machine for leading think tags and Markdown images.

Text is passed through as it arrives; only what may still become ``<think>``/``<thought>`` or
``![alt](url)`` is held back, and only until it is decided. Work per piece is proportional to
the piece, never to the answer so far: a data URL (a whole base64 image may arrive in one
MBs-long delta) is collected in pieces without a bound, an http(s) URL follows CommonMark
(balanced parentheses belong to it, a line break ends it) and is released as text once it
grows past `MAX_URL` characters without closing.
"""

from __future__ import annotations

import re

from .._images import GeneratedImage, read_image_url
from .._types import Choice, Event, ImageEvent, ReasoningDelta, Reply, TextDelta

__all__ = ["MAX_URL", "TEXT", "ChoiceState"]

_OPEN_TAGS = ("<think>", "<thought>")
_CLOSE_FOR = {"<think>": "</think>", "<thought>": "</thought>"}
_MAX_ALT = 300  # longer "![..." text is not treated as an image
MAX_URL = 2048  # an http(s) URL longer than this without its ")" is text after all
_URL_PREFIXES = ("data:image/", "https://", "http://")
_URL_MARK = re.compile(r"[()\s]")  # what changes the state inside an http(s) URL

UNCLOSED_THINK_NOTE = "the thinking block was never closed: it is shown as the answer"

# content modes
START, THINK, TEXT, ALT, URL, AFTER_THINK = range(6)


class ChoiceState:
    """The content parser of one choice: feed it strings with `content`, end it with `flush`."""

    __slots__ = (
        "choice",
        "close_tag",
        "hold",
        "mode",
        "reply",
        "think_fresh",
        "think_parts",
        "url_data",
        "url_depth",
        "url_len",
        "url_parts",
        "url_title",
    )

    def __init__(self, choice: Choice, reply: Reply) -> None:
        self.choice = choice
        self.reply = reply  # for notes
        self.mode = START
        self.hold = ""  # undecided text: a partial tag, or "![alt" / "![alt](" while deciding
        self.close_tag = ""
        self.think_fresh = False  # inside <think> before its first non-blank character
        self.think_parts: list[str] = []  # what the think tag routed to reasoning
        self.url_parts: list[str] = []  # pieces of an image URL being collected
        self.url_data = False  # the URL is a data URL (unbounded, no parentheses inside)
        self.url_len = 0
        self.url_depth = 0  # open "(" inside an http(s) URL
        self.url_title = False  # past the blank that starts a link title

    # -- emitting ----------------------------------------------------------------------------

    def text(self, text: str, events: list[Event]) -> None:
        if text:
            self.choice._text.append(text)
            events.append(TextDelta(text, self.choice.index))

    def reasoning(self, text: str, events: list[Event]) -> None:
        self.choice._reasoning.append(text)
        events.append(ReasoningDelta(text, self.choice.index))

    def image_url(self, url: str, events: list[Event], *, note: bool = True) -> bool:
        """Add the image `url` stands for; if it is none, note why on the reply (unless told
        not to: a Markdown image that is no image stays in the text instead) and return False."""
        image = read_image_url(url)
        if isinstance(image, GeneratedImage):
            self.choice.images.append(image)
            events.append(ImageEvent(image, self.choice.index))
            return True
        if note:
            self.reply.note(image)
        return False

    # -- the state machine -------------------------------------------------------------------

    def content(self, s: str, events: list[Event]) -> None:
        mode = self.mode
        if mode == TEXT and not self.hold and "!" not in s:
            self.text(s, events)  # the common case
            return
        if mode == URL:
            rest = self._url(s, events)
            if rest:
                self._scan(rest, events)
            return
        if self.hold:
            s = self.hold + s  # hold is short in every mode but URL
            self.hold = ""
        if mode == AFTER_THINK:
            s = s.lstrip()  # the blank lines after </think> are not part of the answer
            if s:
                self.mode = TEXT
                self._scan(s, events)
        elif mode == START:
            self._start(s, events)
        elif mode == THINK:
            self._think(s, events)
        else:  # TEXT, or ALT whose held text starts with "!["
            self._scan(s, events)

    def _start(self, s: str, events: list[Event]) -> None:
        stripped = s.lstrip()
        if not stripped:
            self.hold = s
            return
        for tag in _OPEN_TAGS:
            if stripped.startswith(tag):
                self.mode = THINK
                self.close_tag = _CLOSE_FOR[tag]
                self.think_fresh = True
                self._think(stripped[len(tag) :], events)
                return
            if tag.startswith(stripped):
                self.hold = s  # could still become a tag
                return
        self.mode = TEXT
        self._scan(s, events)

    def _thought(self, text: str, events: list[Event]) -> None:
        self.think_parts.append(text)
        self.reasoning(text, events)

    def _think(self, s: str, events: list[Event]) -> None:
        """Inside ``<think>``: route text to reasoning until the closing tag.

        The blank lines just inside the tags are not part of the thought, so leading blanks
        are skipped and trailing ones held back until more thought text proves them inner.
        """
        if self.think_fresh:
            s = s.lstrip()
            if not s:
                return
            self.think_fresh = False
        close = self.close_tag
        end = s.find(close)
        if end == -1:
            keep = 0  # hold back a suffix that may be the start of the closing tag
            for k in range(min(len(close) - 1, len(s)), 0, -1):
                if close.startswith(s[-k:]):
                    keep = k
                    break
            body = s[: len(s) - keep]
            emit = body.rstrip()
            if emit:
                self._thought(emit, events)
            self.hold = body[len(emit) :] + s[len(s) - keep :]
            return
        thought = s[:end].rstrip()
        if thought:
            self._thought(thought, events)
        self.think_parts = []  # closed: it stays reasoning
        self.mode = AFTER_THINK
        rest = s[end + len(close) :].lstrip()
        if rest:
            self.mode = TEXT
            self._scan(rest, events)

    def _scan(self, s: str, events: list[Event]) -> None:
        """Text mode: pass text through, stopping at anything that may be ``![alt](url)``."""
        while s:  # a loop, not recursion: one delta may hold thousands of "![" (or images)
            start = s.find("![")
            if start == -1:
                if s.endswith("!"):
                    self.text(s[:-1], events)
                    self.hold = "!"
                else:
                    self.text(s, events)
                return
            self.text(s[:start], events)
            self.mode = ALT
            s = self._alt(s[start:], events) or ""

    def _alt(self, s: str, events: list[Event]) -> str | None:
        """`s` starts with ``![``: decide whether it is an image whose URL we should collect.

        Returns the text still to scan, or None when everything was used or held back.
        """
        # only an alt text shorter than _MAX_ALT counts, however the text was split into deltas
        close = s.find("](", 2, _MAX_ALT + 1)
        bad = s.find("\n", 2, _MAX_ALT + 1)
        if close == -1 or (bad != -1 and bad < close):
            if bad == -1 and len(s) <= _MAX_ALT:
                self.hold = s  # alt text still arriving
                return None
            return self._not_image(s, events)
        url_start = close + 2
        head = s[url_start : url_start + 11]
        if not any(p.startswith(head) or head.startswith(p) for p in _URL_PREFIXES):
            return self._not_image(s, events)
        if len(head) < 11 and not any(head.startswith(p) for p in _URL_PREFIXES):
            self.hold = s  # prefix not yet decided
            return None
        self.mode = URL
        self.hold = s[:url_start]  # the "![alt](" part, kept for release if this is no image
        self.url_parts = []
        self.url_data = head.startswith("data:")
        self.url_len = self.url_depth = 0
        self.url_title = False
        return self._url(s[url_start:], events)

    def _not_image(self, s: str, events: list[Event]) -> str:
        self.mode = TEXT
        self.text(s[:2], events)
        return s[2:]

    def _url(self, s: str, events: list[Event]) -> str | None:
        """Collect the URL; at its ")" emit the image and return the text after it."""
        if self.url_data:
            end = s.find(")")  # base64 has no parentheses
            if end == -1:
                self.url_parts.append(s)
                return None
            return self._close_url(s, end, events)
        budget = MAX_URL - self.url_len
        for mark in _URL_MARK.finditer(s, 0, budget + 1):
            char = mark.group()
            if char == "(":
                if not self.url_title:
                    self.url_depth += 1
            elif char == ")":
                if self.url_depth and not self.url_title:
                    self.url_depth -= 1
                else:
                    return self._close_url(s, mark.start(), events)
            elif char in "\r\n":  # a link destination or title does not span lines here
                return self._release_url(s, mark.start(), events)
            else:
                self.url_title = True
        if len(s) > budget:
            return self._release_url(s, budget, events)
        self.url_parts.append(s)
        self.url_len += len(s)
        return None

    def _close_url(self, s: str, end: int, events: list[Event]) -> str:
        self.url_parts.append(s[:end])
        url = "".join(self.url_parts)
        self.url_parts = []
        prefix = self.hold
        self.hold = ""
        self.mode = TEXT
        target = url.strip().split(" ", 1)[0]  # drop an optional "title"
        if not self.image_url(target, events, note=False):
            self.text(prefix + url + ")", events)  # not an image: nothing vanishes
        return s[end + 1 :]

    def _release_url(self, s: str, cut: int, events: list[Event]) -> str:
        """Not an image after all: what was collected (and `s` up to `cut`) is text."""
        self.text(self.hold + "".join(self.url_parts) + s[:cut], events)
        self.url_parts = []
        self.hold = ""
        self.mode = TEXT
        return s[cut:]

    def flush(self, events: list[Event], *, cut: bool = False) -> None:
        """Release whatever is held back: nothing more is coming for this choice.

        `cut`: the stream was stopped or broke, so an open think block is thinking that was
        cut short, not an answer that forgot to close it; it stays reasoning."""
        if self.mode == URL:
            text = self.hold + "".join(self.url_parts)
            self.url_parts = []
        else:
            text = self.hold
        self.hold = ""
        if self.mode == THINK:
            if cut:
                if text:
                    self.reasoning(text, events)
                self.think_parts = []
                self.mode = TEXT
                return
            self._unclosed_think(text, events)
            return
        self.text(text, events)
        if self.mode != AFTER_THINK:
            self.mode = TEXT

    def _unclosed_think(self, held: str, events: list[Event]) -> None:
        """A think block that never closed was the answer: move it from reasoning to text
        (scanned once, at the end, like any answer text)."""
        inner = "".join(self.think_parts)
        self.think_parts = []
        self.mode = TEXT
        text = (inner + held).rstrip()
        if not text:
            return
        reasoning = self.choice.reasoning
        if inner and reasoning.endswith(inner):
            kept = reasoning[: len(reasoning) - len(inner)]
            self.choice._reasoning[:] = [kept] if kept else []
        self.reply.note(UNCLOSED_THINK_NOTE)
        self._scan(text, events)  # as answer text it may hold images too
        self.flush(events)
