"""`ChatSession`: the panel's turns — settings, client, conversation and the streaming task.

Everything here runs on the kernel's event loop (the widget hands every callback to it). An
answer streams in an asyncio task, so the kernel stays free; its deltas go out through the
widget's `post` at the pace a `Pacer` allows. Nothing here knows about traitlets or the DOM.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from .._conversation import Content, Conversation, content_text
from .._errors import GeminiError, StreamError
from .._settings import Settings
from .._types import Reply, decode_data_url
from ..attachments import Attachment, AttachmentError, to_content_parts
from ..client import AsyncClient
from ..render import footer_bundle
from ._attach import label
from ._connection import Connection, advice, one_line
from ._pacer import MESSAGE_BYTES, Pacer
from ._transcript import AnswerBuilder, Entry, Op, Transcript

__all__ = ["MAX_MESSAGE_CHARS", "OFFLINE_NOTE", "ChatSession", "Refused"]

MAX_MESSAGE_CHARS = 200_000
"""A longer message is refused (a stray paste of a whole file); attach the file instead."""
OFFLINE_NOTE = (
    "Offline: no GEMINI_API_KEY is set, so answers come from the built-in offline gateway "
    "(canned, free). Set GEMINI_API_KEY for real answers."
)
_RECORDED = ("complete", "truncated")


class Refused(Exception):
    """A message that was not sent; the text stays in the input and a note says why."""

    def __init__(self, message: str, error: GeminiError) -> None:
        super().__init__(message)
        self.error = error


class Host(Protocol):
    """What the session needs from the widget."""

    model: str
    thinking: bool
    temperature: float

    def post(self, ops: list[Op]) -> int: ...

    def set_status(self, text: str, *, error: bool = False) -> None: ...

    def set_busy(self, busy: bool) -> None: ...


class ChatSession:
    """The conversation of one panel with its gateway.

    `settings` (given) or `overrides` (resolved at each message, so a key set later, or
    ``%config Gemini.*``, takes effect) make the client; a given `client` is used as it is.
    """

    def __init__(
        self,
        host: Host,
        *,
        settings: Settings | None,
        overrides: Mapping[str, Any],
        client: AsyncClient | None,
        conversation: Conversation,
        pacer: Callable[[], Pacer] = Pacer,
    ) -> None:
        self.host = host
        self.conversation = conversation
        self.transcript = Transcript()
        self.new_pacer = pacer
        self.loop: asyncio.AbstractEventLoop | None = _running_loop()
        self.connection = Connection(
            settings=settings, overrides=overrides, client=client, loop=lambda: self.loop
        )
        self.task: asyncio.Task[Reply] | None = None
        self.last_reply: Reply | None = None
        self._stop_requested = False
        self._own_change = False
        self._seen = 0  # conversation messages already in the transcript
        self._timer: asyncio.TimerHandle | None = None
        self._unsubscribe = conversation.on_change(self._conversation_changed)

    @property
    def offline(self) -> bool:
        return self.connection.offline

    def ensure_client(self) -> AsyncClient:
        return self.connection.ensure()

    # -- the conversation seen from elsewhere (%%gemini -c NAME) ------------------------------

    def _conversation_changed(self, conversation: Conversation) -> None:
        if self._own_change:
            self._seen = len(conversation.messages)
            return
        loop = self.loop
        if loop is not None and not loop.is_closed() and not _on_loop_thread(loop):
            loop.call_soon_threadsafe(self.sync_history)
        else:
            self.sync_history()

    def sync_history(self) -> None:
        """Show turns added to the conversation elsewhere; while an answer streams too."""
        messages = self.conversation.messages
        ops: list[Op] = []
        if len(messages) < self._seen:
            ops += self.transcript.add_note("The conversation was reset elsewhere.")
            self._seen = 0
        for message in messages[self._seen :]:
            text = content_text(message.get("content"))
            if message.get("role") == "user":
                ops += self.transcript.add_user(text, content=message.get("content"))[1]
            else:
                ops += self.transcript.add_answer(text, status="complete").ops()
        self._seen = len(messages)
        if ops:
            self.host.post(ops)

    # -- turns -----------------------------------------------------------------------------------

    @property
    def streaming(self) -> bool:
        return self.task is not None and not self.task.done()

    def start(
        self,
        text: str,
        attachments: Sequence[Attachment] = (),
        *,
        content: Content | None = None,
        replace: Entry | None = None,
    ) -> asyncio.Task[Reply]:
        """Begin a turn; raises `Refused` (nothing sent, nothing shown) when it cannot start."""
        if self.streaming:
            raise Refused(
                "An answer is still streaming: press Stop (or Escape) or wait for it.",
                GeminiError("busy"),
            )
        if not text.strip() and not attachments and content is None:
            raise Refused("Type a message first.", GeminiError("empty message"))
        if len(text) > MAX_MESSAGE_CHARS:
            raise Refused(
                f"The message is too long ({len(text):,} characters; the limit is "
                f"{MAX_MESSAGE_CHARS:,}): attach it as a file instead.",
                GeminiError("message too long"),
            )
        loop = self.loop or _running_loop()
        if loop is None:
            raise RuntimeError(
                "ChatPanel needs a running event loop (use it in Jupyter, or await panel.send)."
            )
        self.loop = loop
        try:
            client = self.ensure_client()
            images: list[bytes] = []
            if content is None:
                content, images = _content(text, attachments)
            messages = self.conversation.messages_for(content)
            kept = replace is not None and self._kept_turn(replace)
            if kept:
                del messages[-3:-1]  # the turn being replaced does not go along
            stream = client.stream(
                messages,
                model=self.host.model,
                temperature=self.host.temperature,
                thinking=True if self.host.thinking else None,
                source="panel",
                conversation=self.conversation.name,
            )
        except (GeminiError, AttachmentError, ValueError) as exc:
            error = exc if isinstance(exc, GeminiError) else GeminiError(str(exc))
            raise Refused(advice(exc), error) from None
        ops: list[Op] = []
        if replace is not None:
            ops += self._forget_from(replace, kept)
        labels = [label(a) for a in attachments]
        _, user_ops = self.transcript.add_user(
            text, attachments=labels, images=images, content=content
        )
        answer = self.transcript.add_answer()
        self.host.post([*ops, *user_ops, *answer.ops()])
        self.host.set_status(OFFLINE_NOTE if self.offline else "")
        self._stop_requested = False
        self.last_reply = stream.reply
        task = loop.create_task(self._run(stream, content, answer))
        self.task = task
        self.host.set_busy(True)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Reply]) -> None:
        if task is self.task:
            self.task = None
            self.host.set_busy(False)

    def _kept_turn(self, user: Entry) -> bool:
        """Whether `user`'s turn is the conversation's last (so replacing it forgets it)."""
        index = self.transcript.entries.index(user)
        answer = next(
            (e for e in self.transcript.entries[index + 1 :] if e.role == "assistant"), None
        )
        messages = self.conversation.messages
        return (
            answer is not None
            and answer.status in _RECORDED
            and len(messages) >= 2
            and messages[-2].get("content") == user.content
            and messages[-1].get("content") == answer.text
        )

    def _forget_from(self, user: Entry, kept: bool) -> list[Op]:
        """Drop a user turn (and what followed) from the transcript and, if kept, from memory."""
        if kept:
            del self.conversation.messages[-2:]
            self._seen = min(self._seen, len(self.conversation.messages))
        return self.transcript.remove_from(user)

    def regenerate(self, entry_id: int | None = None) -> asyncio.Task[Reply]:
        """Ask the last question again; its answer is replaced."""
        answer = self.transcript.last("assistant")
        if answer is None or (entry_id is not None and answer.id != entry_id):
            raise Refused("Only the last answer can be regenerated.", GeminiError("not last"))
        index = self.transcript.entries.index(answer)
        user = next(
            (e for e in reversed(self.transcript.entries[:index]) if e.role == "user"), None
        )
        if user is None:
            raise Refused("There is no question to ask again.", GeminiError("no question"))
        return self.start(user.text, content=user.content, replace=user)

    def edit(self, text: str) -> asyncio.Task[Reply]:
        """Send `text` in place of the last user message (and its answer)."""
        user = self.transcript.last("user")
        if user is None:
            raise Refused("There is no message to edit.", GeminiError("nothing to edit"))
        return self.start(text, replace=user)

    def stop(self) -> None:
        task = self.task
        if task is None or task.done() or self._stop_requested:
            return
        self._stop_requested = True
        task.cancel()

    def reset(self) -> None:
        """Stop, forget the conversation's turns and clear the transcript."""
        self.stop()
        self._own_change = True
        try:
            self.conversation.reset()
        finally:
            self._own_change = False
        self._seen = 0
        self.host.post(self.transcript.clear())
        self.last_reply = None

    async def _run(self, stream: Any, content: Content, answer: Entry) -> Reply:
        started = time.monotonic()
        model = self.host.model
        builder = AnswerBuilder(answer)
        pacer = self.new_pacer()
        reply: Reply = stream.reply
        error: str | None = None
        status: str | None = None
        try:
            try:
                async with stream:
                    async for event in stream:
                        pacer.add(builder.feed(event))
                        if builder.dirty:
                            self._schedule(builder, pacer)
            except StreamError as exc:
                reply = exc.reply or reply
                error = one_line(str(exc))
            except GeminiError as exc:  # before the first byte: HTTP status, connection
                reply.error = exc
                error = one_line(str(exc))
        except asyncio.CancelledError:
            reply.interrupted = True
            status = "interrupted"
            if not self._stop_requested:
                self._finish(builder, reply, model, started, status, None)
                raise
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            self.host.set_status("Stopped; the partial answer is kept.")
        except Exception as exc:  # a bug must not leave the panel stuck
            error = f"Unexpected error ({type(exc).__name__}): {one_line(str(exc))}"
            reply.error = GeminiError(error)
        self.last_reply = reply
        if error is None and status is None:
            self._own_change = True
            try:
                self.conversation.record(content, reply)
            finally:
                self._own_change = False
        self._finish(builder, reply, model, started, status, error)
        return reply

    def _finish(
        self,
        builder: AnswerBuilder,
        reply: Reply,
        model: str,
        started: float,
        status: str | None,
        error: str | None,
    ) -> None:
        self._cancel_timer()
        ops = builder.take(final=True)
        entry = builder.entry
        entry.status = status or reply.status
        entry.error = error or ""
        shown = reply if (reply.text or reply.reasoning or reply.images or status) else None
        if shown is not None:
            footer = footer_bundle(
                shown,
                model=model,
                seconds=time.monotonic() - started,
                status=status,
                offline=self.offline,
            )
            entry.footer = footer["text/html"]
        self.host.post([*ops, entry.end_op()])

    # -- pacing ----------------------------------------------------------------------------------

    def _schedule(self, builder: AnswerBuilder, pacer: Pacer) -> None:
        delay = pacer.delay(MESSAGE_BYTES + builder.cost())
        if delay <= 0.0:
            self._cancel_timer()
            self._push(builder, pacer)
        elif self._timer is None and self.loop is not None:
            self._timer = self.loop.call_later(delay, self._on_timer, builder, pacer)

    def _on_timer(self, builder: AnswerBuilder, pacer: Pacer) -> None:
        self._timer = None
        if builder.dirty and builder.entry.status == "streaming":
            self._schedule(builder, pacer)

    def _push(self, builder: AnswerBuilder, pacer: Pacer) -> None:
        ops = builder.take()
        pacer.pushed(self.host.post(ops) if ops else 0)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def close(self) -> None:
        self.stop()
        self._unsubscribe()
        self.connection.close()


def _content(text: str, attachments: Sequence[Attachment]) -> tuple[Content, list[bytes]]:
    """The user message content, and the image bytes to show as thumbnails."""
    if not attachments:
        return text, []
    parts = to_content_parts(attachments)
    images = []
    for part in parts:
        if part.get("type") == "image_url":
            decoded = decode_data_url(str(part["image_url"].get("url", "")))
            if decoded is not None:
                images.append(decoded[1])
    return [{"type": "text", "text": text}, *parts], images


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _on_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    thread_id = getattr(loop, "_thread_id", None)
    return thread_id is None or thread_id == threading.get_ident()
