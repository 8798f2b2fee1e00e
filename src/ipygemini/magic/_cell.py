"""The ``%%gemini`` cell: prompt and attachments, ask, show the answer live, keep the `Reply`."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from .._errors import GeminiError, OptionError
from ._options import Parser, build_parser, usage_error
from ._request import (
    AnswerError,
    AnswerInterrupted,
    CellRequest,
    build_request,
    notebook_variable,
)

if TYPE_CHECKING:
    from .._types import Choice, Reply
    from ._session import Session

__all__ = ["AnswerError", "AnswerInterrupted", "CellMagic"]

NO_CODE_NOTE = "-f code: the answer has no code block, so no new cell was made"


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
        """The cell magic: read every option into one request, then answer in the cell's mode."""
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
        ns: dict[str, Any] = self.ip.user_ns
        request = build_request(self.session, args, cell or "", ns, getattr(self, "cell_log", None))
        if request.mode == "each":
            from ._each import each_cell

            return each_cell(self.session, ns, request)
        content = request.content()
        if args.chat is not None:
            conversation = self.session.conversation(args.chat)
            if args.system is not None:
                conversation.system = args.system
            elif conversation.system is None and not conversation.messages:
                conversation.system = self.session.config.system
        else:
            from .._conversation import Conversation

            conversation = Conversation(system=request.system)
        messages = conversation.messages_for(content)
        if request.mode == "schema":
            reply = self._schema_answer(messages, request)
            if args.chat is not None:
                conversation.record(content, reply)
            return None
        fmt = "json" if args.json else (args.format or self.session.config.format)
        stream = self.session.config.stream and not args.no_stream
        reply = self._ask(
            messages,
            request.options,
            fmt=fmt,
            stream=stream,
            keep_result=not args.json,
            output=args.output,
            footer=request.context,
        )
        if args.chat is not None:
            conversation.record(content, reply)  # a panel on this conversation hears of it
        if fmt == "code":
            code = _code_of(reply.text)
            if code:
                self.ip.set_next_input(code, replace=False)
        if args.json:
            try:
                return reply.json()
            except ValueError as exc:
                raise AnswerError(str(exc)) from None
        return None

    def _schema_answer(self, messages: list[dict[str, Any]], request: CellRequest) -> Reply:
        """``--schema S``: the answer as data, shown as ONE output: a table and the footer."""
        from ..client._schema import AnswerValidationError
        from ..render import answer_bundle
        from ._each import data_bundle

        args = request.args
        schema = notebook_variable(self.ip.user_ns, args.schema, "--schema")
        settings = self.session.settings()
        started = time.perf_counter()
        try:
            reply = self.session.client().chat(messages, schema=schema, **request.options)
        except AnswerValidationError as exc:
            if exc.reply is not None:
                self._keep(exc.reply, args.output)
            raise
        except OptionError as exc:
            raise usage_error(exc) from None
        self._keep(reply, args.output)
        footer = self._footer(reply, request.options, settings, started, request.context)
        bundle = answer_bundle([data_bundle(reply.parsed), footer])
        self.ip.display_pub.publish(data=bundle, metadata={})
        return reply

    def _footer(
        self,
        reply: Reply,
        options: dict[str, Any],
        settings: Any,
        started: float,
        context: str | None,
    ) -> dict[str, str]:
        from ..render import footer_bundle

        return footer_bundle(
            reply,
            model=options.get("model") or settings.model,
            seconds=time.perf_counter() - started,
            offline=settings.offline,
            prices=self.session.config.prices,
            context=context,
        )

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
        from ..render._live import IPythonPublisher, LiveMarkdown
        from ..render._terminal import TerminalStream

        settings = self.session.settings()
        client = self.session.client()
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
        end = _Ending(self, view, options, settings, started, footer, fmt)
        with _watch_output() as printed:
            try:
                if stream:
                    s = client.stream(messages, **options)
                    reply = s.reply
                    self._keep(reply, output)
                    with s:
                        for event in s:
                            if reply.cached and isinstance(view, LiveMarkdown):
                                view.live = False  # from the log: shown once, as it is
                            view.feed(event)
                else:
                    reply = client.chat(messages, **options)
                    self._keep(reply, output)
                    for event in reply.events():  # a whole answer, shown in answer order
                        view.feed(event)
            except KeyboardInterrupt:
                if reply is None:
                    end.nothing(printed)
                    raise AnswerInterrupted("stopped before the answer began.") from None
                if s is not None:
                    for event in s.interrupted():  # what the stop flushed (held-back text)
                        view.feed(event)
                end.answer(reply, printed)
                raise AnswerInterrupted(
                    f"stopped; the {len(reply.text):,} characters that arrived are kept in "
                    "_gemini (status 'interrupted')."
                ) from None
            except StreamError as exc:
                reply = exc.reply or reply
                if reply is not None:
                    self._keep(reply, output)
                    end.answer(reply, printed)
                else:
                    end.nothing(printed)
                raise
            except OptionError as exc:  # the client's own check of an option: the user's to fix
                end.nothing(printed)
                raise usage_error(exc) from None
            except GeminiError as exc:
                end.nothing(printed)
                if reply is None:
                    from .._types import Reply

                    reply = Reply(error=exc)  # _gemini says the request failed, and why
                    self._keep(reply, output)
                raise
            end.answer(reply, printed)
        return reply


class _Ending:
    """How a cell's answer ends: the view closed and, in a notebook, ONE output (the answer,
    further answers, the footer) in place of the live handles."""

    def __init__(
        self,
        magic: CellMagic,
        view: Any,
        options: dict[str, Any],
        settings: Any,
        started: float,
        context: str | None,
        fmt: str,
    ) -> None:
        self.magic, self.view, self.options, self.settings = magic, view, options, settings
        self.started, self.context, self.fmt = started, context, fmt

    def nothing(self, printed: list[bool]) -> None:
        """No answer to show: the live handles (if any) go."""
        withdraw = getattr(self.view, "withdraw", None)  # the terminal view has no handles
        if withdraw is not None:
            withdraw(clear=not printed[0])
        else:
            self.view.close()

    def answer(self, reply: Reply, printed: list[bool]) -> None:
        view = self.view
        view.close()
        if self.fmt == "code" and reply.text.strip() and not _code_of(reply.text):
            reply.note(NO_CODE_NOTE)
        choices: Sequence[Choice] = reply.choices
        for number, choice in enumerate(choices[1:], start=2):
            view.extra_choice(choice, number, len(choices))
        view.show(
            self.magic._footer(reply, self.options, self.settings, self.started, self.context)
        )
        finish = getattr(view, "finish", None)
        if finish is not None:
            finish(clear=not printed[0])


def _code_of(text: str) -> str:
    """The answer's code blocks, joined ("" when it has none)."""
    from ..render import code_blocks

    return "\n\n".join(c.rstrip("\n") for _, c in code_blocks(text))


class _Watched:
    """Stands in for sys.stdout / sys.stderr during an answer: notes that something was
    written (a tool's print, a warning) and passes everything on."""

    def __init__(self, stream: Any, printed: list[bool]) -> None:
        self._stream = stream
        self._printed = printed

    def write(self, text: str) -> int:
        if text:
            self._printed[0] = True
        result: int = self._stream.write(text)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def _watch_output() -> Iterator[list[bool]]:
    """``[True]`` once anything is printed while the answer runs: the cell's outputs then may not
    be cleared for the final one (the printed text would be lost from the saved notebook)."""
    printed = [False]
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Watched(out, printed), _Watched(err, printed)
    try:
        yield printed
    finally:
        if isinstance(sys.stdout, _Watched):
            sys.stdout = out
        if isinstance(sys.stderr, _Watched):
            sys.stderr = err
