"""The ``%%gemini`` cell: prompt and attachments, ask, show the answer live, keep the `Reply`."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from .._errors import GeminiError, OptionError
from ._options import Parser, PromptError, build_parser, interpolate, request_options, usage_error

if TYPE_CHECKING:
    from .._types import Choice, Reply
    from ._session import Session

__all__ = ["AnswerError", "AnswerInterrupted", "CellMagic"]


class AnswerError(GeminiError, ValueError):
    """The answer is not what the options asked for (not JSON under ``--json``)."""


class AnswerInterrupted(KeyboardInterrupt):
    """Ctrl-C / Stop during an answer: still a KeyboardInterrupt, so the cell fails and the
    kernel drops the cells queued behind it, but shown as one line, not a traceback wall."""

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[31mKeyboardInterrupt\x1b[0m: {self}"]


class CellMagic:
    """The ``%%gemini`` flow, mixed into `GeminiMagics` (which provides `session` and `shell`)."""

    session: Session
    _parser: Parser | None = None

    @property
    def parser(self) -> Parser:
        if self._parser is None:
            self._parser = build_parser()
        return self._parser

    @property
    def ip(self) -> Any:
        """The shell (always set once the magics are registered)."""
        shell = getattr(self, "shell", None)
        assert shell is not None
        return shell

    def gemini_cell(self, line: str, cell: str) -> Any:
        """The cell magic: parse the options, build the prompt, ask, show the answer."""
        try:
            argv = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"%%gemini: cannot read the options ({exc})") from None
        try:
            args = self.parser.parse_args(argv)
        except argparse.ArgumentError as exc:
            self.parser.error(str(exc))
        if args.help:
            print(self.parser.format_help())
            return None
        options = request_options(args, self.session.config.thinking_style)
        ns: dict[str, Any] = self.ip.user_ns
        if args.each is not None or args.schema is not None:
            from ._each import data_cell

            return data_cell(self, args, cell or "", options)
        prompt = interpolate(cell or "", ns).strip()
        if not prompt:
            raise UsageError("%%gemini: the cell is empty; write the prompt below %%gemini")
        prompt, footer = self._notebook_context(prompt, args, options, ns)
        content = self._content(prompt, args.attach or (), ns)
        if args.chat is not None:
            conversation = self.session.conversation(args.chat)
            if args.system is not None:
                conversation.system = args.system
            elif conversation.system is None and not conversation.messages:
                conversation.system = self.session.config.system
        else:
            from .._conversation import Conversation

            conversation = Conversation(system=args.system or self.session.config.system)
        messages = conversation.messages_for(content)
        fmt = "json" if args.json else (args.format or self.session.config.format)
        stream = self.session.config.stream and not args.no_stream
        reply = self._ask(
            messages,
            options,
            fmt=fmt,
            stream=stream,
            keep_result=not args.json,
            output=args.output,
            footer=footer,
        )
        if args.chat is not None:
            conversation.record(content, reply)  # a panel on this conversation hears of it
        if fmt == "code":
            from ..render import code_blocks

            code = "\n\n".join(c.rstrip("\n") for _, c in code_blocks(reply.text))
            self.ip.set_next_input(code or reply.text.strip(), replace=False)
        if args.json:
            try:
                return reply.json()
            except ValueError as exc:
                raise AnswerError(str(exc)) from None
        return None

    def _notebook_context(
        self, prompt: str, args: argparse.Namespace, options: dict[str, Any], ns: dict[str, Any]
    ) -> tuple[str, str | None]:
        """`prompt` with the cells and variables asked for; ``--tools`` into `options`."""
        from ._context import NotebookContext, context_count, notebook_tools

        if args.tools:
            options["tools"] = notebook_tools(args.tools, ns)
        count = context_count(
            args.context if args.context is not None else self.session.config.context
        )
        if count is False and not args.vars:
            return prompt, None
        context = NotebookContext()
        secret = self.session.settings().api_key
        if count is not False:
            context.add_cells(getattr(self, "cell_log", None), count, secret)
        if args.vars:
            context.add_variables(self.ip, secret)
        return context.prompt(prompt), context.footer()

    def _content(self, prompt: str, names: Sequence[str], ns: dict[str, Any]) -> Any:
        """The user message: the prompt, and a part for each ``-a`` variable."""
        objects = []
        for name in names:
            if name not in ns:
                raise PromptError(f"-a/--attach: no variable {name!r} in the notebook.")
            objects.append((name, ns[name]))
        if not objects:
            return prompt
        from ..attachments import AttachmentError, to_content_parts

        parts = [{"type": "text", "text": prompt}]
        for name, obj in objects:
            try:
                parts.extend(to_content_parts([obj]))
            except AttachmentError as exc:  # say which of the -a variables it was
                raise AttachmentError(f"-a {name}: {exc}") from None
        return parts

    def _keep(self, reply: Reply, output: str | None) -> None:
        self.ip.user_ns["_gemini"] = reply
        if output:
            self.ip.user_ns[output] = reply

    def _in_kernel(self) -> bool:
        return getattr(self.ip, "kernel", None) is not None

    def _ask(
        self,
        messages: list[dict[str, Any]],
        options: dict[str, Any],
        *,
        fmt: str,
        stream: bool,
        keep_result: bool,
        output: str | None,
        footer: str | None = None,
    ) -> Reply:
        from .._errors import StreamError
        from ..render._live import IPythonPublisher, LiveMarkdown, replay_events
        from ..render._terminal import TerminalStream

        settings = self.session.settings()
        client = self.session.client()
        model = options.get("model") or settings.model
        view: LiveMarkdown | TerminalStream
        if self._in_kernel():
            view = LiveMarkdown(
                IPythonPublisher(self.ip),
                fmt=fmt,
                live=stream,
                final=keep_result,
                interval=1.0 / float(self.session.config.updates_per_second),
            )
        else:
            view = TerminalStream(sys.stdout, fmt=fmt, show_text=keep_result)
        started = time.perf_counter()
        reply: Reply | None = None
        s = None
        try:
            if stream:
                s = client.stream(messages, **options)
                reply = s.reply
                self._keep(reply, output)
                with s:
                    for event in s:
                        view.feed(event)
            else:
                reply = client.chat(messages, **options)
                self._keep(reply, output)
                for event in replay_events(reply):  # a whole answer, shown in answer order
                    view.feed(event)
        except KeyboardInterrupt:
            if reply is None:
                view.close()
                raise AnswerInterrupted("stopped before the answer began.") from None
            if s is not None:
                for event in s.interrupted():  # what the stop flushed (held-back text)
                    view.feed(event)
            self._finish(view, reply, model, started, settings.offline, footer)
            raise AnswerInterrupted(
                f"stopped; the {len(reply.text):,} characters that arrived are kept in "
                "_gemini (status 'interrupted')."
            ) from None
        except StreamError as exc:
            reply = exc.reply or reply
            if reply is not None:
                self._keep(reply, output)
                self._finish(view, reply, model, started, settings.offline, footer)
            raise
        except OptionError as exc:  # the client's own check of an option: the user's to fix
            view.close()
            raise usage_error(exc) from None
        except GeminiError as exc:
            view.close()
            if reply is None:
                from .._types import Reply

                reply = Reply(error=exc)  # _gemini says the request failed, and why
                self._keep(reply, output)
            raise
        self._finish(view, reply, model, started, settings.offline, footer)
        return reply

    def _finish(
        self,
        view: Any,
        reply: Reply,
        model: str,
        started: float,
        offline: bool,
        footer: str | None = None,
    ) -> None:
        from ..render import footer_bundle

        view.close()
        choices: Sequence[Choice] = reply.choices
        for number, choice in enumerate(choices[1:], start=2):
            view.extra_choice(choice, number, len(choices))
        seconds = time.perf_counter() - started
        prices = self.session.config.prices
        view.show(
            footer_bundle(
                reply, model=model, seconds=seconds, offline=offline, prices=prices, context=footer
            )
        )
