"""`ChatPanel`: a chat with Gemini as ipywidgets, streaming on the kernel's own event loop.

Loaded on first use of ``ipygemini.ChatPanel`` because it imports ipywidgets; the magic does not.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
import types
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as W
from ipywidgets.widgets.widget_button import ButtonStyle
from ipywidgets.widgets.widget_string import HTMLStyle
from traitlets import Bool, Float, HasTraits, TraitError, Unicode, observe, validate

from .. import _offline
from .._conversation import Content, Conversation, content_text
from .._errors import GeminiError, StreamError
from .._types import Event, GeneratedImage, Reply, decode_data_url
from ..attachments import Attachment, AttachmentError, describe, is_attachable, to_content_parts
from ..client._client import DEFAULT_MODEL, AsyncClient, ClientOptions
from ..render import BlockSplitter, footer_bundle, tail_text
from ..render._markdown import code_blocks, escape, render_markdown, sanitize_html

__all__ = ["ChatPanel", "Pacer"]

# Sizes of widget messages on iopub (envelope included), measured with ipykernel 7 / ipywidgets 8;
# the pacer uses them to estimate what a push costs before sending it.
UPDATE_BYTES = 600  # one state update of one widget
OPEN_BYTES = 1150  # a new HTML widget whose layout and style are shared
REF_BYTES = 45  # one "IPY_MODEL_…" reference in a children list

PREVIEW_CHARS = 1500  # the live tail shows at most this much of the open block
SEGMENT_CHARS = 600  # finished blocks are frozen into widgets of at least this much HTML
PAGE_SIZE = 16  # widgets per page: appending one re-sends a page's children, not the answer's
CODE_VARIABLE = "_gemini_code"
OFFLINE_NOTE = (
    "Offline: no GEMINI_API_KEY is set, so answers come from the built-in offline gateway "
    "(canned, free). Set GEMINI_API_KEY for real answers."
)

# The panel's look: a constant style sheet of our own (no model text), scoped to the panel.
# ipywidgets' HTML gives every line the height of a form control; chat text needs less.
PANEL_CSS = """
.ipygemini-panel .widget-html-content { line-height: 1.45; }
.ipygemini-panel .ipygemini-transcript > * { flex: 0 0 auto; }
.ipygemini-panel .widget-html-content p { margin: 0.35em 0; }
.ipygemini-panel .widget-html-content pre {
  background: var(--jp-layout-color2, #f4f4f4); padding: 6px 8px; border-radius: 4px;
  overflow-x: auto; line-height: 1.3; margin: 0.4em 0;
}
.ipygemini-panel .widget-html-content ul, .ipygemini-panel .widget-html-content ol {
  margin: 0.3em 0; padding-left: 1.6em;
}
.ipygemini-panel .ipygemini-user { border-radius: 6px; }
"""


# --- pacing (pure) ------------------------------------------------------------------------------


class Pacer:
    """When a streamed answer may push widget messages; O(1) per chunk.

    Two limits. At most `rate` widget messages a second: jupyter_server drops messages above
    ~1000/s and every update re-renders in the browser. And about `ratio` bytes of widget traffic
    per answer character (after a first `allowance`), so a slow stream does not re-send the
    same tail many times: time alone cannot bound the bytes, since a stream can be arbitrarily
    slow. Text that does not earn a push is still shown after `patience` seconds.
    """

    def __init__(
        self,
        *,
        rate: float = 20.0,
        ratio: float = 6.0,
        allowance: int = 3000,
        patience: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0; got {rate}")
        self.interval = 1.0 / rate
        self.ratio = ratio
        self.allowance = allowance
        self.patience = patience
        self.clock = clock
        self.chars = 0  # answer characters received
        self.spent = 0  # estimated bytes pushed
        self.pushes = 0
        self.messages = 0
        self._earliest = -math.inf  # no push before this time
        self._last = -math.inf

    def add(self, chars: int) -> None:
        self.chars += chars

    def delay(self, cost: int) -> float:
        """Seconds until a push of about `cost` bytes may go; 0.0 means now."""
        now = self.clock()
        wait = self._earliest - now
        if self.spent + cost > self.ratio * self.chars + self.allowance:
            wait = max(wait, self._last + self.patience - now)
        return max(wait, 0.0)

    def pushed(self, messages: int, nbytes: int) -> None:
        """Record a push of `messages` widget messages of about `nbytes` bytes in all.

        A push that found nothing to send still counts as an attempt: the next one waits an
        interval, so re-rendering an unchanged tail cannot happen on every chunk.
        """
        now = self.clock()
        self.pushes += 1 if messages else 0
        self.messages += messages
        self.spent += nbytes
        self._last = now
        self._earliest = now + self.interval * max(messages, 1)


@dataclass
class _Traffic:
    """Messages and bytes one push sends (estimates, for the pacer)."""

    messages: int = 0
    nbytes: int = 0

    def update(self, size: int) -> None:
        self.messages += 1
        self.nbytes += UPDATE_BYTES + size

    def open(self, size: int) -> None:
        self.messages += 1
        self.nbytes += OPEN_BYTES + size


# --- small widget pieces -------------------------------------------------------------------------


class _Kit:
    """Widget factory of one panel. Layouts and styles are shared: each new widget would
    otherwise open two more comms (a Layout alone carries ~40 keys)."""

    def __init__(self) -> None:
        self.block_layout = W.Layout(margin="0", overflow="visible")
        self.block_style = HTMLStyle()
        self.page_layout = W.Layout(margin="0")
        self.answer_layout = W.Layout(margin="0 0 10px 0", flex="0 0 auto")
        self.button_layout = W.Layout(width="auto", margin="0 0 6px 0", align_self="flex-start")
        self.button_style = ButtonStyle()
        self.image_layout = W.Layout(
            max_width="100%", width="auto", height="auto", margin="4px 0", align_self="flex-start"
        )
        self.user_layout = W.Layout(padding="2px 10px", margin="0 0 8px 0", flex="0 0 auto")
        self.user_style = HTMLStyle(background="var(--jp-layout-color2, #f0f0f0)")
        self.thumb_layout = W.Layout(max_width="160px", margin="0 4px 6px 0")
        self.thinking_layout = W.Layout(margin="0 0 6px 0")

    def html(self, value: str = "") -> Any:
        return W.HTML(value=value, layout=self.block_layout, style=self.block_style)

    def user(self, value: str) -> Any:
        return W.HTML(
            value=value,
            layout=self.user_layout,
            style=self.user_style,
            _dom_classes=("ipygemini-user",),
        )

    def page(self, children: Sequence[Any]) -> Any:
        return W.VBox(children=list(children), layout=self.page_layout)

    def image(self, image: GeneratedImage) -> Any:
        """An image from its bytes; a remote URL becomes a link and is never loaded."""
        if image.data is not None and image.mime_type.startswith("image/"):
            fmt = image.mime_type.split("/", 1)[1]
            return W.Image(value=image.data, format=fmt, layout=self.image_layout)
        url = image.url or ""
        link = sanitize_html(f'<p><a href="{escape(url)}">[image: {escape(url)}]</a></p>')
        return self.html(link)

    def button(self, description: str, tooltip: str, icon: str = "") -> Any:
        return W.Button(
            description=description,
            tooltip=tooltip,
            icon=icon,
            layout=self.button_layout,
            style=self.button_style,
        )


def _note_html(text: str, *, error: bool = False) -> str:
    color = "var(--jp-error-color1,#c00)" if error else "var(--jp-ui-font-color2,#777)"
    mark = "⚠ " if error else ""
    return f'<div style="color:{color};font-size:0.9em">{mark}{escape(text)}</div>'


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@dataclass
class _Block:
    """A finished Markdown block, rendered once."""

    html: str
    code: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _Picture:
    image: GeneratedImage


class AnswerView:
    """One assistant message while it streams: thinking, frozen segments, images, a live tail.

    Finished Markdown blocks are rendered once and frozen into `HTML` widgets of their own: at
    each push, the blocks finished since the last one become one widget (once they make up
    `SEGMENT_CHARS`; smaller ones ride in the tail until then). Only the open tail is
    re-rendered, from a preview of at most `PREVIEW_CHARS`. Widgets go into pages of
    `PAGE_SIZE`, so adding one re-sends a short children list. All widget changes happen in
    `push`, which the `Pacer` schedules; nothing here writes to an Output widget (output
    captured from a task is lost).
    """

    def __init__(
        self,
        kit: _Kit,
        pacer: Pacer | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.kit = kit
        self.pacer = pacer or Pacer()
        self.loop = loop
        self.offline = False  # label the footer "offline"
        self.splitter = BlockSplitter()
        self.tail = kit.html()
        self.pages = [kit.page([self.tail])]
        self.box = W.VBox(
            children=[self.pages[0]], layout=kit.answer_layout, _dom_classes=("ipygemini-answer",)
        )
        self.codes: list[str] = []  # code blocks shown, in order (for the copy buttons)
        self.on_copy: Callable[[str], None] | None = None
        self._pending: list[_Block | _Picture] = []  # finished, not yet frozen into a widget
        self._pending_html = 0
        self._tail_html = ""
        self._reasoning: list[str] = []
        self._reasoning_chars = 0
        self._reasoning_shown = 0
        self._thinking: Any = None  # Accordion
        self._thinking_html: Any = None
        self._thinking_final = False
        self._text_started = False
        self._dirty = False
        self._finished = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    # -- events ----------------------------------------------------------------------------------

    def feed(self, event: Event) -> None:
        """Take one stream event; pushes to the widgets when the pacer allows."""
        if self._finished or getattr(event, "index", 0) != 0:
            return
        if event.type == "text":
            self._text_started = True
            for split in self.splitter.feed(event.text):
                if split.kind == "done":
                    self._finish_block(split.text)
            self.pacer.add(len(event.text))
        elif event.type == "reasoning":
            self._reasoning.append(event.text)
            self._reasoning_chars += len(event.text)
            self.pacer.add(len(event.text))
        elif event.type == "image":
            self._flush_splitter()
            self._pending.append(_Picture(event.image))
            self.pacer.add(200)  # an image is worth a push of its own
        else:
            return
        self._dirty = True
        self._schedule()

    def finish(
        self,
        reply: Reply | None,
        *,
        model: str,
        seconds: float,
        status: str | None = None,
        error: str | None = None,
    ) -> None:
        """The stream ended (however it ended): show everything, then the error and footer."""
        if self._finished:
            return
        self._cancel_timer()
        self._flush_splitter()
        self._text_started = True
        self._dirty = True
        self.push(final=True)
        self._finished = True
        extra = []
        if error:
            extra.append(self.kit.html(_note_html(error, error=True)))
        if reply is not None:
            footer = footer_bundle(
                reply, model=model, seconds=seconds, status=status, offline=self.offline
            )
            extra.append(self.kit.html(footer["text/html"]))
        if extra:
            self.box.children = (*self.box.children, *extra)

    # -- scheduling ------------------------------------------------------------------------------

    def _cost(self) -> int:
        tail = min(self.splitter.tail_chars, PREVIEW_CHARS) * 11 // 10
        cost = UPDATE_BYTES + self._pending_html + tail
        if self._reasoning_chars != self._reasoning_shown:
            cost += UPDATE_BYTES + min(self._reasoning_chars, PREVIEW_CHARS)
        return cost

    def _schedule(self) -> None:
        delay = self.pacer.delay(self._cost())
        if delay <= 0.0:
            self._cancel_timer()
            self.push()
            return
        if self.loop is None:
            return  # no loop to wait on: the next event (or finish) pushes
        due = self.pacer.clock() + delay
        if self._timer is not None and self._timer_at <= due + 0.005:
            return
        self._cancel_timer()
        self._timer = self.loop.call_later(delay, self._on_timer)
        self._timer_at = due

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = math.inf
        if self._dirty and not self._finished:
            self._schedule()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self._timer_at = math.inf

    # -- blocks ----------------------------------------------------------------------------------

    def _flush_splitter(self) -> None:
        for split in self.splitter.flush():
            if split.kind == "done":
                self._finish_block(split.text)

    def _finish_block(self, text: str) -> None:
        html = render_markdown(text)
        code = code_blocks(text) if ("```" in text or "~~~" in text) else []
        self._pending.append(_Block(html, code))
        self._pending_html += len(html)

    # -- pushing ---------------------------------------------------------------------------------

    def push(self, *, final: bool = False) -> None:
        """Send what changed since the last push (one batch of widget messages)."""
        if not self._dirty:
            return
        self._dirty = False
        traffic = _Traffic()
        self._push_thinking(traffic, final)
        self._push_answer(traffic, final)
        self.pacer.pushed(traffic.messages, traffic.nbytes)

    def _push_thinking(self, traffic: _Traffic, final: bool) -> None:
        if not self._reasoning or self._thinking_final:
            return
        done = self._text_started or final
        if not done and self._reasoning_chars == self._reasoning_shown:
            return
        if done:
            text = "".join(self._reasoning)
            html = render_markdown(text)
            title = f"Thinking ({len(text.split()):,} words)"
        else:
            text = tail_text(self._reasoning, self._reasoning_chars, PREVIEW_CHARS)
            html = render_markdown(text)
            title = "Thinking…"
        self._reasoning_shown = self._reasoning_chars
        if self._thinking is None:
            self._thinking_html = self.kit.html(html)
            self._thinking = W.Accordion(
                children=[self._thinking_html],
                titles=(title,),
                selected_index=None if done else 0,
                layout=self.kit.thinking_layout,
            )
            self.box.children = (self._thinking, *self.box.children)
            traffic.open(len(html))
            traffic.open(len(title))
            traffic.update(REF_BYTES * len(self.box.children))
        else:
            self._thinking_html.value = html
            traffic.update(len(html))
            if done:
                with self._thinking.hold_sync():
                    self._thinking.titles = (title,)
                    self._thinking.selected_index = None  # fold once the answer starts
                traffic.update(len(title))
        self._thinking_final = done

    def _push_answer(self, traffic: _Traffic, final: bool) -> None:
        new: list[Any] = []
        tail_used = False  # the current tail widget received a frozen segment (or was dropped)
        drop_tail = False
        run: list[str] = []
        run_codes: list[tuple[str, str]] = []
        run_chars = 0

        def freeze() -> None:
            nonlocal tail_used, run, run_codes, run_chars
            html = "".join(run)
            if not tail_used:
                tail_used = True
                if html != self._tail_html:
                    self.tail.value = html
                    traffic.update(len(html))
            else:
                new.append(self.kit.html(html))
                traffic.open(len(html))
            for lang, code in run_codes:
                new.append(self._copy_button(lang, code))
                traffic.open(40)
            run, run_codes, run_chars = [], [], 0

        for part in self._pending:
            if isinstance(part, _Picture):
                if run:
                    freeze()
                elif not tail_used:
                    tail_used = drop_tail = True  # nothing to keep in front of the image
                new.append(self.kit.image(part.image))
                traffic.open(len(part.image.data or b""))
                continue
            run.append(part.html)
            run_chars += len(part.html)
            run_codes.extend(part.code)
            if part.code:
                freeze()  # its copy button goes right after it
        if run and (final or run_chars >= SEGMENT_CHARS):
            freeze()  # everything finished since the last push: one widget
        self._pending = [_Block(html) for html in run]  # stays in the live tail (never code)
        self._pending_html = run_chars

        tail_html = "".join(run)
        if not final:
            preview = self.splitter.preview(PREVIEW_CHARS) if self.splitter.tail_chars else ""
            if preview.strip():
                tail_html += render_markdown(preview)
        if tail_used:
            if not final or tail_html:
                self.tail = self.kit.html(tail_html)
                new.append(self.tail)
                traffic.open(len(tail_html))
            self._tail_html = tail_html
        elif tail_html != self._tail_html:
            self.tail.value = tail_html
            self._tail_html = tail_html
            traffic.update(len(tail_html))
        if new or drop_tail:
            self._place(new, drop_tail, traffic)

    def _place(self, widgets: list[Any], drop_tail: bool, traffic: _Traffic) -> None:
        page = self.pages[-1]
        children = list(page.children)
        if drop_tail and children:
            children.pop()  # the old tail is always the page's last widget
        room = PAGE_SIZE - len(children)
        children.extend(widgets[:room])
        if tuple(children) != tuple(page.children):
            page.children = children
            traffic.update(REF_BYTES * len(children))
        rest = widgets[room:]
        if not rest:
            return
        while rest:
            self.pages.append(self.kit.page(rest[:PAGE_SIZE]))
            traffic.open(REF_BYTES * len(rest[:PAGE_SIZE]))
            rest = rest[PAGE_SIZE:]
        head = (self._thinking,) if self._thinking is not None else ()
        self.box.children = (*head, *self.pages)
        traffic.update(REF_BYTES * len(self.box.children))

    def _copy_button(self, lang: str, code: str) -> Any:
        self.codes.append(code)
        label = f"Copy {lang} code" if lang else "Copy code"
        button = self.kit.button(
            label,
            f"Store this code in {CODE_VARIABLE}; then run %load {CODE_VARIABLE} in a cell",
            icon="copy",
        )

        def copy(_: Any) -> None:
            if self.on_copy is not None:
                self.on_copy(code)

        button.on_click(copy)
        return button

    # -- reading back (tests, scripting) ---------------------------------------------------------

    def html(self) -> str:
        """The answer's HTML as shown now: frozen segments and the tail, in order."""
        return "".join(
            w.value for page in self.pages for w in page.children if isinstance(w, W.HTML)
        )


# --- the panel -----------------------------------------------------------------------------------


def _as_attachment(obj: Any) -> Attachment:
    return obj if isinstance(obj, Attachment) else Attachment(obj, None)


def _label(attachment: Attachment) -> str:
    obj = attachment.obj
    if isinstance(obj, types.ModuleType):
        what = "current figure"  # describe(plt) would create a figure as a side effect
    elif isinstance(obj, bytes | bytearray | memoryview):
        what = f"{len(obj):,} bytes"
    else:
        try:
            what = describe(obj)
        except Exception:
            what = type(obj).__name__
    return f"{attachment.name} ({what})" if attachment.name else what


def _ipython() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency
        return None
    return get_ipython()


def _tree(root: Any) -> Iterable[Any]:
    yield root
    for child in getattr(root, "children", ()):
        yield from _tree(child)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class ChatPanel(HasTraits):
    """A chat with Gemini in the notebook: ``panel = ChatPanel(); panel``.

    Send starts an asyncio task on the kernel's running event loop, so the kernel stays free
    while the answer streams; the task pauses while another cell runs (a blocking cell blocks
    the loop) and continues afterwards. Stop cancels the task, which closes the connection and
    keeps the partial answer, marked interrupted. `conversation` is a `Conversation`, the same
    kind ``%%gemini -c NAME`` continues, and ``await panel.send(text)`` is the scripted way in.

    Widget callbacks can arrive in another thread: JupyterLab 4.4+ sends widget messages to a
    kernel subshell. Their work is handed to the loop the panel was made on, so everything the
    panel does happens on the kernel's main loop, in order.

    Settings come from the arguments, else from ``GEMINI_API_KEY``, ``GEMINI_BASE_URL`` and
    ``GEMINI_MODEL`` (through `AsyncClient`); a client that cannot be made yet (no key) is an
    inline error, retried at each Send. The key is never shown. `height` is the transcript's
    maximum height; ``load_models=False`` keeps the menu at the configured model; `pacer`
    makes the `Pacer` of each answer (its defaults: 20 messages/s, ~6 bytes per character).

    Code blocks in answers get a button that stores the code in ``_gemini_code``; ``%load
    _gemini_code`` then pastes it into a cell. (``set_next_input`` cannot be used: called from
    a widget callback, its payload rides on the *next* cell's reply and lands below that cell.)
    """

    model = Unicode(DEFAULT_MODEL, help="Model for the next message.")
    thinking = Bool(False, help="Ask the model to think and show its thoughts.")
    temperature = Float(1.0, help="Sampling temperature (0–2).")
    busy = Bool(False, help="An answer is streaming (read-only).")

    def __init__(
        self,
        *,
        client: AsyncClient | None = None,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        conversation: Conversation | None = None,
        system: str | None = None,
        thinking: bool = False,
        temperature: float = 1.0,
        height: str = "420px",
        load_models: bool = True,
        pacer: Callable[[], Pacer] = Pacer,
    ) -> None:
        if client is not None and not isinstance(client, AsyncClient):
            raise TypeError(f"client must be an ipygemini.AsyncClient, not {type(client).__name__}")
        self._client: AsyncClient | None = client
        self._client_error: GeminiError | None = None
        self._client_options: ClientOptions = {
            "api_key": api_key,
            "base_url": base_url,
            "model": model,
        }
        self._owns_client = client is None
        self.offline = False  # answers come from the built-in offline gateway
        if client is None:
            self._client = self._make_client()
        configured = model or (
            self._client.model
            if self._client is not None
            else os.environ.get("GEMINI_MODEL") or DEFAULT_MODEL
        )
        super().__init__(model=configured, thinking=thinking, temperature=temperature)
        self.conversation = (
            conversation if conversation is not None else Conversation(system=system)
        )
        self._new_pacer = pacer
        # The kernel's loop: streams, and every callback's work, run here. (Outside a kernel
        # there may be none yet; the first `send` adopts the loop it is awaited on.)
        self._loop: asyncio.AbstractEventLoop | None = _running_loop()
        self._kit = _Kit()
        self._task: asyncio.Task[Reply] | None = None
        self._stop_requested = False
        self._pending: list[Attachment] = []
        self._messages: list[Any] = []  # transcript widgets, oldest first
        self._answers: list[AnswerView] = []
        self._seen = 0  # conversation messages already in the transcript
        self.last_reply: Reply | None = None
        self._build(height)
        self.refresh_variables()
        self._sync_history()
        if self._client_error is not None:
            self._add_widget(self._kit.html(_note_html(str(self._client_error), error=True)))
        if self.offline:
            self._set_status(OFFLINE_NOTE)
        self._models_task: asyncio.Task[list[str]] | None = None
        if load_models and self._client is not None and self._loop is not None:
            self._models_task = self._loop.create_task(self.refresh_models())

    # -- construction ----------------------------------------------------------------------------

    def _make_client(self) -> AsyncClient | None:
        options = self._client_options
        # nothing configured at all (no key, no base URL): the built-in offline gateway answers
        key, url, self.offline = _offline.resolve(options.get("api_key"), options.get("base_url"))
        try:
            client = AsyncClient(api_key=key, base_url=url, model=options.get("model"))
        except GeminiError as exc:
            self._client_error = exc
            return None
        self._client_error = None
        return client

    def _build(self, height: str) -> None:
        kit = self._kit
        self._model_picker = W.Dropdown(
            _dom_classes=("ipygemini-model",),
            options=[self.model],
            value=self.model,
            layout=W.Layout(width="230px"),
        )
        self._model_picker.observe(self._handler(self._picked_model), "value")
        self._thinking_box = W.Checkbox(
            value=self.thinking, description="Thinking", indent=False, layout=W.Layout(width="90px")
        )
        self._thinking_box.observe(
            self._handler(lambda c: setattr(self, "thinking", c["new"])), "value"
        )
        self._temperature_slider = W.FloatSlider(
            value=self.temperature,
            min=0.0,
            max=2.0,
            step=0.1,
            description="Temp",
            readout_format=".1f",
            continuous_update=False,
            layout=W.Layout(width="230px"),
            style={"description_width": "40px"},
        )
        self._temperature_slider.observe(
            self._handler(lambda c: setattr(self, "temperature", c["new"])), "value"
        )
        self._new_chat_button = W.Button(
            _dom_classes=("ipygemini-new-chat",),
            description="New chat",
            icon="plus",
            tooltip="Clear the transcript and the model's memory",
        )
        self._new_chat_button.on_click(self._handler(lambda _: self.new_chat()))
        header = W.HBox(
            [
                self._model_picker,
                self._thinking_box,
                self._temperature_slider,
                self._new_chat_button,
            ],
            layout=W.Layout(flex_flow="row wrap", align_items="center"),
        )
        self._hint = kit.html(
            _note_html("Ask anything. Attach notebook variables or upload files below.")
        )
        # column-reverse keeps the view scrolled to the newest message as answers grow, without
        # any JavaScript; the children are therefore kept newest first.
        self._transcript = W.Box(
            [self._hint],
            _dom_classes=("ipygemini-transcript",),
            layout=W.Layout(
                display="flex",
                flex_flow="column-reverse",
                max_height=height,
                overflow="auto",
                border="1px solid var(--jp-border-color2, #ddd)",
                padding="6px 10px",
                margin="4px 0",
            ),
        )
        self._pending_row = W.HBox(layout=W.Layout(flex_flow="row wrap", display="none"))
        self._prompt = W.Textarea(
            _dom_classes=("ipygemini-prompt",),
            placeholder="Message Gemini…",
            rows=3,
            layout=W.Layout(flex="1 1 auto", width="auto"),
        )
        self._send_button = W.Button(
            _dom_classes=("ipygemini-send",),
            description="Send",
            button_style="primary",
            icon="paper-plane",
        )
        self._send_button.on_click(self._handler(self._clicked_send))
        self._stop_button = W.Button(
            _dom_classes=("ipygemini-stop",), description="Stop", icon="stop", disabled=True
        )
        self._stop_button.on_click(self._handler(lambda _: self.stop()))
        input_row = W.HBox(
            [self._prompt, W.VBox([self._send_button, self._stop_button])],
            layout=W.Layout(align_items="stretch"),
        )
        self._variable_picker = W.Dropdown(
            options=[], value=None, description="Variable", layout=W.Layout(width="300px")
        )
        self._attach_button = W.Button(
            description="Attach", icon="paperclip", tooltip="Attach the chosen notebook variable"
        )
        self._attach_button.on_click(self._handler(lambda _: self._attach_variable()))
        self._refresh_button = W.Button(
            icon="refresh", tooltip="Refresh the list of variables", layout=W.Layout(width="36px")
        )
        self._refresh_button.on_click(self._handler(lambda _: self.refresh_variables()))
        self._upload = W.FileUpload(
            accept="image/*,.pdf,.txt,.md,.csv,.tsv,.json,.py", multiple=True, description="Upload"
        )
        self._upload.observe(self._handler(self._uploaded), "value")
        attach_row = W.HBox(
            [self._variable_picker, self._attach_button, self._refresh_button, self._upload],
            layout=W.Layout(flex_flow="row wrap", align_items="center"),
        )
        self._status = W.HTML("", _dom_classes=("ipygemini-status",))
        style = W.HTML(f"<style>{PANEL_CSS}</style>", layout=W.Layout(display="none"))
        self.widget = W.VBox(
            [
                style,
                header,
                self._transcript,
                self._pending_row,
                input_row,
                attach_row,
                self._status,
            ],
            layout=W.Layout(width="100%"),
            _dom_classes=("ipygemini-panel",),
        )

    # -- threads ---------------------------------------------------------------------------------

    def _handler(self, function: Callable[..., None]) -> Callable[..., None]:
        """`function` as a widget callback that always runs on the kernel's main loop.

        JupyterLab (4.4+, setting ``commsOverSubshells``, default per comm target) sends widget
        messages to a kernel *subshell*: callbacks then run in another thread, on another
        event loop. A stream started there would run beside the notebook's cells, and the
        client's pooled connections, bound to one loop, would fail on the other. So the work
        is handed to the loop the panel was made on, where ``await panel.send`` runs too.
        """

        def callback(*args: Any) -> None:
            loop = self._loop
            if loop is None or loop.is_closed() or _running_loop() is loop:
                function(*args)
            else:
                loop.call_soon_threadsafe(function, *args)

        return callback

    # -- display ---------------------------------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        data: dict[str, Any] = self.widget._repr_mimebundle_(**kwargs)
        data["text/plain"] = repr(self)
        return data

    def __repr__(self) -> str:
        return f"ChatPanel(model={self.model!r}, turns={self.conversation.turns})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    # -- traits ----------------------------------------------------------------------------------

    @validate("temperature")
    def _check_temperature(self, proposal: Any) -> float:
        value = float(proposal["value"])
        if not 0.0 <= value <= 2.0:
            raise TraitError(f"temperature must be between 0 and 2; got {value:g}")
        return value

    @observe("model")
    def _model_changed(self, change: Any) -> None:
        picker = getattr(self, "_model_picker", None)
        if picker is None:
            return
        if change["new"] not in picker.options:
            picker.options = (*picker.options, change["new"])
        picker.value = change["new"]

    @observe("thinking")
    def _thinking_changed(self, change: Any) -> None:
        if hasattr(self, "_thinking_box"):
            self._thinking_box.value = change["new"]

    @observe("temperature")
    def _temperature_changed(self, change: Any) -> None:
        if hasattr(self, "_temperature_slider"):
            self._temperature_slider.value = change["new"]

    @observe("busy")
    def _busy_changed(self, change: Any) -> None:
        self._send_button.disabled = change["new"]
        self._stop_button.disabled = not change["new"]

    def _picked_model(self, change: Any) -> None:
        if change["new"]:
            self.model = change["new"]

    # -- client and models -----------------------------------------------------------------------

    @property
    def client(self) -> AsyncClient | None:
        """The `AsyncClient` in use (None while it cannot be made, e.g. no API key yet)."""
        return self._client

    def _ensure_client(self) -> AsyncClient:
        options = self._client_options
        if self.offline and not _offline.nothing_configured(
            options.get("api_key"), options.get("base_url")
        ):
            self._close_client()  # a key or gateway was configured since: use it
        if self._client is None:
            self._client = self._make_client()
        if self._client is None:
            assert self._client_error is not None
            raise self._client_error
        return self._client

    async def refresh_models(self) -> list[str]:
        """Fill the model menu from the gateway's ``/models``; on failure keep what is there."""
        try:
            models = await self._ensure_client().models()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # never let the menu break the panel
            self._set_status(f"Could not list models ({_one_line(str(exc), 160)}).", error=True)
            return list(self._model_picker.options)
        ids = [m.id for m in models if "embedding" not in m.id]
        options = list(dict.fromkeys([self.model, *ids]))
        with self._model_picker.hold_sync():
            self._model_picker.options = options
            self._model_picker.value = self.model
        return options

    # -- attachments -----------------------------------------------------------------------------

    @property
    def pending(self) -> list[Attachment]:
        """Attachments that go with the next message."""
        return list(self._pending)

    def attach(self, obj: Any, name: str | None = None) -> None:
        """Add an object to the next message (like picking it in the panel)."""
        self._pending.append(obj if isinstance(obj, Attachment) else Attachment(obj, name))
        self._show_pending()

    def detach(self, index: int) -> None:
        """Remove the pending attachment at `index`."""
        del self._pending[index]
        self._show_pending()

    def attachable_variables(self) -> dict[str, Any]:
        """``{name: object}`` of the notebook variables the attachments module can send."""
        shell = _ipython()
        namespace: dict[str, Any] = getattr(shell, "user_ns", None) or {}
        found: dict[str, Any] = {}
        for name, obj in list(namespace.items()):
            if name.startswith("_"):
                continue
            try:
                if is_attachable(obj):
                    found[name] = obj
            except Exception:
                continue
        return found

    def refresh_variables(self) -> None:
        """Re-read the notebook's attachable variables into the picker."""
        options = [
            (_label(Attachment(obj, name)), name)
            for name, obj in sorted(self.attachable_variables().items())
        ]
        with self._variable_picker.hold_sync():
            self._variable_picker.options = options
            self._variable_picker.value = None

    def _attach_variable(self) -> None:
        name = self._variable_picker.value
        if not name:
            self._set_status("Choose a variable to attach first.")
            return
        shell = _ipython()
        namespace = getattr(shell, "user_ns", None) or {}
        if name not in namespace:
            self._set_status(f"{name} no longer exists; refresh the list.", error=True)
            return
        self.attach(namespace[name], name)

    def _uploaded(self, change: Any) -> None:
        files = change["new"]
        if not files:
            return
        for item in files:
            self._pending.append(Attachment(bytes(item["content"]), str(item["name"])))
        self._upload.value = ()
        self._show_pending()

    def _show_pending(self) -> None:
        chips = []
        for index, attachment in enumerate(self._pending):
            chip = self._kit.button(
                f"{_label(attachment)} ✕", "Remove this attachment", "paperclip"
            )
            chip.on_click(self._handler(lambda _, i=index: self.detach(i)))
            chips.append(chip)
        with self._pending_row.hold_sync():
            self._pending_row.children = chips
            self._pending_row.layout.display = "flex" if chips else "none"

    # -- transcript ------------------------------------------------------------------------------

    def _add_widget(self, *widgets: Any) -> None:
        self._messages.extend(widgets)
        self._transcript.children = tuple(reversed(self._messages))

    def _user_widget(
        self, text: str, attachments: Sequence[Attachment], images: Sequence[bytes]
    ) -> Any:
        labels = "".join(
            f'<div style="font-size:0.85em;opacity:0.8">📎 {escape(_label(a))}</div>'
            for a in attachments
        )
        html = (
            '<div style="font-size:0.8em;font-weight:600;opacity:0.7">You</div>'
            f"{render_markdown(text)}{labels}"
        )
        bubble = self._kit.user(html)
        if not images:
            return bubble
        thumbs = [W.Image(value=data, layout=self._kit.thumb_layout) for data in images]
        return W.VBox([bubble, W.HBox(thumbs)], layout=W.Layout(flex="0 0 auto"))

    def _sync_history(self) -> None:
        """Show turns added to the conversation elsewhere (e.g. by ``%%gemini -c``)."""
        messages = self.conversation.messages
        if len(messages) < self._seen:
            self._add_widget(self._kit.html(_note_html("The conversation was reset elsewhere.")))
            self._seen = 0
        for message in messages[self._seen :]:
            text = content_text(message.get("content"))
            if message.get("role") == "user":
                self._add_widget(self._user_widget(text, (), ()))
            else:
                self._add_widget(self._kit.html(render_markdown(text)))
        self._seen = len(messages)

    def transcript_html(self) -> list[str]:
        """The HTML of each answer in the transcript, oldest first (tests, scripting)."""
        return [answer.html() for answer in self._answers]

    # -- sending ---------------------------------------------------------------------------------

    def _clicked_send(self, _: Any) -> None:
        text = self._prompt.value.strip()
        if not text and not self._pending:
            self._set_status("Type a message first.")
            return
        try:
            self._start(text, ())
        except RuntimeError as exc:
            self._set_status(str(exc), error=True)
            return
        self._prompt.value = ""

    def send(self, text: str, attachments: Iterable[Any] | None = None) -> asyncio.Future[Reply]:
        """Send a message as if typed; ``reply = await panel.send(text)`` waits for the answer.

        The answer starts streaming at once, on the kernel's loop, even if nobody awaits the
        returned future. `attachments` go with the message, together with any picked in
        the panel. Errors are shown in the panel and returned in ``reply.error`` (status
        ``failed``) rather than raised; after Stop the partial reply has status
        ``interrupted``. Raises RuntimeError while another answer is streaming.
        """
        current = _running_loop()
        loop = self._loop = self._loop or current
        if loop is None or current is loop:
            return self._start(text, attachments or ())
        # awaited on another loop (a subshell): stream on the panel's loop, wait here
        future = asyncio.run_coroutine_threadsafe(
            self._start_and_wait(text, list(attachments or ())), loop
        )
        return asyncio.wrap_future(future)

    async def _start_and_wait(self, text: str, attachments: list[Any]) -> Reply:
        return await self._start(text, attachments)

    def _start(self, text: str, attachments: Iterable[Any]) -> asyncio.Task[Reply]:
        if self._task is not None and not self._task.done():
            raise RuntimeError("An answer is still streaming: press Stop or wait for it.")
        loop = self._loop or _running_loop()
        if loop is None:
            raise RuntimeError(
                "ChatPanel needs a running event loop (use it in Jupyter, or await panel.send)."
            )
        self._loop = loop
        chosen = [*self._pending, *(_as_attachment(a) for a in attachments)]
        self._pending = []
        self._show_pending()
        self._stop_requested = False
        self.last_reply = None
        task = loop.create_task(self._run(text, chosen))
        self._task = task
        self.busy = True
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Reply]) -> None:
        if task is self._task:
            self._task = None
            self.busy = False

    def stop(self) -> None:
        """Stop the answer that is streaming (if any); its partial text stays, marked."""
        task = self._task
        if task is None or task.done() or self._stop_requested:
            return
        self._stop_requested = True
        task.cancel()

    def new_chat(self) -> None:
        """Stop any answer, clear the transcript and forget the conversation's turns."""
        self.stop()
        self.conversation.reset()
        self._seen = 0
        self._messages = []
        self._answers = []
        self._pending = []
        self._show_pending()
        self._transcript.children = (self._hint,)
        self.last_reply = None
        self._set_status(OFFLINE_NOTE if self.offline else "")
        self.refresh_variables()

    def _content(self, text: str, attachments: Sequence[Attachment]) -> tuple[Content, list[bytes]]:
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

    async def _run(self, text: str, attachments: list[Attachment]) -> Reply:
        started = time.monotonic()
        model = self.model
        reply = Reply()
        self.last_reply = reply
        self._sync_history()
        view: AnswerView | None = None
        try:
            try:
                client = self._ensure_client()
                self._set_status(OFFLINE_NOTE if self.offline else "")
                content, images = self._content(text, attachments)
                stream = client.stream(
                    self.conversation.messages_for(content),
                    model=model,
                    temperature=self.temperature,
                    thinking=True if self.thinking else None,
                )
            except (GeminiError, AttachmentError, ValueError) as exc:
                self._add_widget(
                    self._user_widget(text, attachments, ()),
                    self._kit.html(_note_html(_one_line(str(exc)), error=True)),
                )
                reply.error = exc if isinstance(exc, GeminiError) else GeminiError(str(exc))
                return reply
            view = AnswerView(self._kit, self._new_pacer(), asyncio.get_running_loop())
            view.on_copy = self._handler(self._copy_code)
            view.offline = self.offline
            self._answers.append(view)
            self._add_widget(self._user_widget(text, attachments, images), view.box)
            reply = stream.reply
            self.last_reply = reply
            error: str | None = None
            try:
                async with stream:
                    async for event in stream:
                        view.feed(event)
            except StreamError as exc:
                reply = exc.reply or reply
                error = _one_line(str(exc))
            except GeminiError as exc:  # before the first byte: HTTP status, connection
                reply.error = exc
                error = _one_line(str(exc))
            self.last_reply = reply
            if error is None and self.conversation.record(content, reply):
                self._seen = len(self.conversation.messages)
            shown = reply if (reply.text or reply.reasoning or reply.images) else None
            view.finish(shown, model=model, seconds=time.monotonic() - started, error=error)
            return reply
        except asyncio.CancelledError:
            reply.interrupted = True
            if view is not None:
                view.finish(
                    reply,
                    model=model,
                    seconds=time.monotonic() - started,
                    status="interrupted",
                )
            if self._stop_requested:
                current = asyncio.current_task()
                if current is not None:
                    current.uncancel()
                self._set_status("Stopped; the partial answer is kept.")
                return reply
            raise
        except Exception as exc:  # a bug must not leave the panel stuck
            message = f"Unexpected error ({type(exc).__name__}): {_one_line(str(exc))}"
            if view is not None:
                view.finish(None, model=model, seconds=time.monotonic() - started, error=message)
            else:
                self._add_widget(self._kit.html(_note_html(message, error=True)))
            reply.error = GeminiError(message)
            return reply
        finally:
            if self._task is asyncio.current_task():
                self.busy = False

    def _copy_code(self, code: str) -> None:
        shell = _ipython()
        if shell is None:
            self._set_status("Not running in IPython: nothing to copy into.", error=True)
            return
        shell.user_ns[CODE_VARIABLE] = code
        self._set_status(
            f"Code stored in {CODE_VARIABLE}: run %load {CODE_VARIABLE} in a cell to paste it."
        )

    def _set_status(self, text: str, *, error: bool = False) -> None:
        value = _note_html(text, error=error) if text else ""
        if self._status.value != value:
            self._status.value = value

    # -- lifecycle -------------------------------------------------------------------------------

    def _close_client(self) -> None:
        """Forget the client; close it if the panel made it (its connections belong to us)."""
        client, self._client = self._client, None
        loop = self._loop
        if self._owns_client and client is not None and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(lambda: self._keep(loop.create_task(client.aclose())))

    def _keep(self, task: asyncio.Task[Any]) -> None:
        self._background = task  # a reference, so the task is not collected while it runs

    def close(self) -> None:
        """Stop streaming, close the widgets and (if the panel made it) the client."""
        self.stop()
        if self._models_task is not None:
            self._models_task.cancel()
        self._close_client()
        for widget in _tree(self.widget):
            widget.close()
