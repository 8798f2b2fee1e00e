"""`ChatPanel`: the chat widget (an anywidget) — its traits, and the messages to and from the page.

State the page edits lives in traits (model, thinking, temperature); events are messages (send,
stop, copy, files...); the transcript travels as append-only ops (see `_transcript`). Widget
messages may arrive on a kernel subshell thread (JupyterLab 4.4+): every one is handed to the
loop the panel was made on, where the answers stream.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import anywidget
import ipywidgets
from traitlets import Bool, Float, List, TraitError, Unicode, validate

from .._conversation import Conversation
from .._settings import DEFAULT_MODEL, Settings
from .._types import Reply
from ..attachments import Attachment
from ..client import AsyncClient
from . import _actions, _shell
from ._actions import CODE_VARIABLE
from ._attach import attachable_variables, label
from ._confirm import Confirmations
from ._connection import advice, one_line
from ._pacer import MESSAGE_BYTES, Pacer
from ._session import OFFLINE_NOTE, ChatSession, Refused
from ._transcript import Op

__all__ = ["CODE_VARIABLE", "ChatPanel"]

_HERE = Path(__file__).parent
_SETTING_NAMES = frozenset(f.name for f in fields(Settings)) - {"offline"}


class ChatPanel(anywidget.AnyWidget):
    """A chat with Gemini in the notebook: ``panel = ChatPanel(); panel``.

    Send starts an asyncio task on the kernel's running event loop, so the kernel stays free
    while the answer streams (it pauses while another cell runs, and goes on after). Stop (or
    Escape) keeps the partial answer, marked. ``await panel.send(text)`` is the scripted way
    in; `messages` is the transcript as data; `conversation` is the same kind of
    `Conversation` that ``%%gemini -c NAME`` continues, and turns added there appear here.

    Settings: `settings`, else ``Settings.resolve(**overrides)`` (arguments > ``%config
    Gemini.*`` > environment > offline rule), where `overrides` are Settings fields (model,
    base_url, api_key, timeout, allow_insecure, ...). A client that cannot be made yet (no
    key) is a note in the panel, tried again at each Send. The key is never shown.
    """

    _esm = (_HERE / "panel.js").read_text(encoding="utf-8")
    _css = (_HERE / "panel.css").read_text(encoding="utf-8")

    model = Unicode("", help="Model for the next message.").tag(sync=True)
    models = List(Unicode(), help="The model menu.").tag(sync=True)
    thinking = Bool(False, help="Ask the model to think and show its thoughts.").tag(sync=True)
    temperature = Float(1.0, help="Sampling temperature (0–2).").tag(sync=True)
    busy = Bool(False, help="An answer is streaming (read-only).").tag(sync=True)
    status = Unicode("", help="The status line (plain text).").tag(sync=True)
    status_error = Bool(False).tag(sync=True)
    offline = Bool(False, help="Answers come from the built-in offline gateway.").tag(sync=True)
    pending_labels = List(Unicode(), help="Attachments of the next message.").tag(sync=True)
    variables = List(List(Unicode()), help="[name, label] of attachable notebook variables.").tag(
        sync=True
    )
    height = Unicode("420px", help="Maximum height of the transcript (CSS).").tag(sync=True)

    def __init__(
        self,
        *,
        settings: Settings | None = None,
        client: AsyncClient | None = None,
        conversation: Conversation | None = None,
        system: str | None = None,
        thinking: bool = False,
        temperature: float = 1.0,
        height: str = "420px",
        load_models: bool = True,
        pacer: Callable[[], Pacer] = Pacer,
        tools: Sequence[Callable[..., Any]] | None = None,
        **overrides: Any,
    ) -> None:
        unknown = set(overrides) - _SETTING_NAMES
        if unknown:
            raise TypeError(
                f"ChatPanel got unknown setting(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(_SETTING_NAMES))}."
            )
        if client is not None and not isinstance(client, AsyncClient):
            raise TypeError(f"client must be an ipygemini.AsyncClient, not {type(client).__name__}")
        if settings is not None and not isinstance(settings, Settings):
            raise TypeError(
                f"settings must be an ipygemini.Settings, not {type(settings).__name__}"
            )
        super().__init__(thinking=thinking, temperature=temperature, height=height)
        self.conversation = (
            conversation if conversation is not None else Conversation(system=system)
        )
        self.pending: list[Attachment] = []
        self._session = ChatSession(
            self,
            settings=settings,
            overrides=overrides,
            client=client,
            conversation=self.conversation,
            pacer=pacer,
        )
        session = self._session
        self.confirmations = Confirmations(lambda content: self._post(content))
        if tools:
            from ..tools import tools_from

            tools_from(tools)  # a function that cannot be a tool is refused now, not mid-chat
            session.tools = self.confirmations.guard(tools)
        chosen = overrides.get("model") or (
            session.connection.settings.model if session.connection.settings is not None else None
        )
        self.model = chosen or (client.model if client is not None else DEFAULT_MODEL)
        self.models = [self.model]
        self.offline = session.offline
        self._reveal_pending: str | None = None
        self.on_msg(self._received)
        self.refresh_variables()
        session.sync_history()
        if session.connection.error is not None:
            self.post(
                self._session.transcript.add_note(advice(session.connection.error), error=True)
            )
        if self.offline:
            self.set_status(OFFLINE_NOTE)
        self._models_task: asyncio.Task[list[str]] | None = None
        if load_models and session.loop is not None and session.connection.client is not None:
            self._models_task = session.loop.create_task(self.refresh_models())

    # -- what the session needs (Host) -----------------------------------------------------------

    def post(self, ops: list[Op], *, view: str | None = None) -> int:
        """Send ops to the views (or to one new `view`); returns about how many bytes went out."""
        if not ops or self.comm is None:
            return 0
        buffers: list[bytes] = []
        wire = []
        for op in ops:
            data = op.get("data")
            if data is not None:
                op = {k: v for k, v in op.items() if k != "data"}
                op["buffer"] = len(buffers)
                buffers.append(bytes(data))
            wire.append(op)
        content: dict[str, Any] = {"type": "ops", "ops": wire}
        if view is not None:
            content["view"] = view
        self._post(content, buffers)
        return MESSAGE_BYTES + len(json.dumps(content)) + sum(len(b) for b in buffers)

    def _post(self, content: dict[str, Any], buffers: list[bytes] | None = None) -> None:
        if self.comm is not None:
            ipywidgets.DOMWidget.send(self, content, buffers)

    def set_status(self, text: str, *, error: bool = False) -> None:
        with self.hold_sync():
            self.status = text
            self.status_error = error

    def set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.offline = self._session.offline

    # -- public API ------------------------------------------------------------------------------

    @property
    def client(self) -> AsyncClient | None:
        """The `AsyncClient` in use (None while it cannot be made, e.g. no API key yet)."""
        return self._session.connection.client

    @property
    def settings(self) -> Settings | None:
        """The Settings of the last message (None while they cannot be resolved)."""
        return self._session.connection.settings

    @property
    def last_reply(self) -> Reply | None:
        return self._session.last_reply

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The transcript as data: ``{"role", "text", ...}`` per message, oldest first."""
        return [entry.data() for entry in self._session.transcript.entries]

    def send(self, text: str, attachments: Iterable[Any] | None = None) -> asyncio.Future[Reply]:
        """Send a message as if typed; ``reply = await panel.send(text)`` waits for the answer.

        The answer starts streaming at once, on the kernel's loop. `attachments` go with the
        message, together with any picked in the panel. Errors are shown in the panel and
        returned in ``reply.error`` (status ``failed``), not raised; after Stop the partial
        reply has status ``interrupted``.
        """
        chosen = list(attachments or ())
        current = _running_loop()
        loop = self._session.loop = self._session.loop or current
        if loop is None or current is loop:
            return self._start(text, chosen)
        # awaited on another loop (a subshell): stream on the panel's loop, wait here
        future = asyncio.run_coroutine_threadsafe(self._start_and_wait(text, chosen), loop)
        return asyncio.wrap_future(future)

    async def _start_and_wait(self, text: str, attachments: list[Any]) -> Reply:
        return await self._start(text, attachments)

    def _start(self, text: str, attachments: list[Any]) -> asyncio.Future[Reply]:
        chosen = [*self.pending, *(_as_attachment(a) for a in attachments)]
        try:
            task = self._session.start(text, chosen)
        except Refused as exc:
            self.post(self._session.transcript.add_note(str(exc), error=True))
            reply = Reply()
            reply.error = exc.error
            done: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
            done.set_result(reply)
            return done
        self.pending = []
        self.pending_labels = []
        return task

    def show(self, area: str = "cell") -> ChatPanel | None:
        """Open the panel: in the cell (``area="cell"``, the same as displaying it) or beside
        the notebook (``area="right"``: JupyterLab's right sidebar, Notebook 7's right side
        panel), where it stays while the notebook scrolls. Showing it there again brings the
        same panel forward. Without such a shell (ipylab missing, VS Code, Colab, a terminal)
        it opens in the cell with one line that says why. Returns the panel when it belongs in
        the cell (so a cell ending in ``panel.show(...)`` displays it), else None."""
        if area not in ("cell", "right"):
            raise ValueError(f"area must be 'cell' or 'right', not {area!r}")
        if area == "cell":
            return self
        why = _shell.why_no_shell()
        if why is not None:
            print(f"The chat panel opens in this cell: {why}.")
            return self
        dom_id, added = _shell.to_sidebar(self, self.model_id, "Gemini")
        if added:
            self._reveal_pending = dom_id  # sent when the sidebar view says hello
        else:
            self._post({"type": "reveal", "id": dom_id})
        print("The chat panel is in the right sidebar.")
        return None

    def stop(self) -> None:
        """Stop the answer that is streaming (if any); its partial text stays, marked."""
        self._session.stop()

    def regenerate(self) -> Any:
        """Ask the last question again, replacing its answer."""
        return self._session.regenerate()

    def new_chat(self) -> None:
        """Stop any answer, clear the transcript and forget the conversation's turns."""
        self._session.reset()
        self.pending = []
        self.pending_labels = []
        self.set_status(OFFLINE_NOTE if self.offline else "")
        self.refresh_variables()

    def attach(self, obj: Any, name: str | None = None) -> None:
        """Add an object to the next message (like picking it in the panel)."""
        self.pending.append(obj if isinstance(obj, Attachment) else Attachment(obj, name))
        self.pending_labels = [label(a) for a in self.pending]

    def detach(self, index: int) -> None:
        """Remove the pending attachment at `index`."""
        if 0 <= index < len(self.pending):
            del self.pending[index]
        self.pending_labels = [label(a) for a in self.pending]

    def refresh_variables(self) -> None:
        """Re-read the notebook's attachable variables into the menu."""
        found = attachable_variables()
        self.variables = [[name, label(Attachment(found[name], name))] for name in sorted(found)]

    async def refresh_models(self) -> list[str]:
        """Fill the model menu from the gateway's ``/models``; on failure keep what is there."""
        try:
            listed = await self._session.ensure_client().models()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # never let the menu break the panel
            self.set_status(f"Could not list models ({one_line(str(exc), 160)}).", error=True)
            return list(self.models)
        ids = [m.id for m in listed if "embedding" not in m.id]
        self.models = list(dict.fromkeys([self.model, *ids]))
        return list(self.models)

    def close(self) -> None:
        """Stop streaming, close the widget and (if the panel made it) the client."""
        session = getattr(self, "_session", None)
        if session is not None:
            session.close()
        if getattr(self, "_models_task", None) is not None:
            self._models_task.cancel()  # type: ignore[union-attr]
        super().close()

    def __repr__(self) -> str:
        return f"ChatPanel(model={self.model!r}, turns={self.conversation.turns})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    @validate("temperature")
    def _check_temperature(self, proposal: Any) -> float:
        value = float(proposal["value"])
        if not 0.0 <= value <= 2.0:
            raise TraitError(f"temperature must be between 0 and 2; got {value:g}")
        return value

    # -- messages from the page ------------------------------------------------------------------

    def _received(self, _: Any, content: Any, buffers: list[bytes]) -> None:
        """Any thread: hand the message to the panel's loop."""
        loop = self._session.loop
        if loop is None or loop.is_closed() or _running_loop() is loop:
            self._handle(content, buffers)
        else:
            loop.call_soon_threadsafe(self._handle, content, buffers)

    def _handle(self, content: Any, buffers: list[bytes]) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        try:
            if kind == "hello":
                self.post(self._session.transcript.snapshot(), view=str(content.get("view")))
                if self._reveal_pending is not None:
                    self._post({"type": "reveal", "id": self._reveal_pending})
                    self._reveal_pending = None
            elif kind == "reveal":
                _actions.reveal(self, content)
            elif kind == "send":
                _actions.clicked_send(self, content)
            elif kind == "stop":
                self.stop()
            elif kind == "new_chat":
                self.new_chat()
            elif kind == "regenerate":
                self._session.regenerate(int(content.get("id", 0)))
            elif kind == "copy":
                entry = self._session.transcript.find(int(content.get("id", 0)))
                text = entry.text if entry is not None else ""
                self._post({"type": "clipboard", "id": content.get("id"), "text": text})
            elif kind == "insert":
                _actions.to_cell(self, str(content.get("code", "")))
            elif kind == "attach":
                _actions.attach_variable(self, str(content.get("name", "")))
            elif kind == "detach":
                self.detach(int(content.get("index", -1)))
            elif kind == "refresh":
                self.refresh_variables()
            elif kind == "file":
                _actions.file(self, str(content.get("name", "")), buffers)
            elif kind == "confirm":
                self.confirmations.answer(content.get("id"), content.get("allow"))
        except Refused as exc:
            self.post(self._session.transcript.add_note(str(exc), error=True))


def _as_attachment(obj: Any) -> Attachment:
    return obj if isinstance(obj, Attachment) else Attachment(obj, None)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
