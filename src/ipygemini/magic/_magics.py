"""The ``%%gemini`` cell magic and the ``%gemini`` line commands (``%load_ext ipygemini``).

Parsing, prompt interpolation, settings and conversations live here; showing the answer is
`display.LiveMarkdown`'s job and talking to the gateway is `Client`'s. Loading is cheap: the
client (httpx), the Markdown renderer and the display code are imported on first use.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class

from .. import _offline
from .._conversation import Conversation
from .._errors import GeminiError, InsecureURLError, MissingKeyError
from ._config import FORMATS, Gemini

if TYPE_CHECKING:
    from .._types import Choice, Reply
    from ..client._client import Client
    from ..testing import FakeGateway

__all__ = [
    "AnswerError",
    "GeminiMagics",
    "PromptError",
    "interpolate",
    "load_ipython_extension",
    "unload_ipython_extension",
]

OFFLINE_HINT = (
    "To try ipygemini without a key, run %gemini offline (answers come from a local fake)."
)
_OPTION_FOR = {
    "temperature": "-t/--temperature",
    "top_p": "--top-p",
    "max_tokens": "--max-tokens",
    "n": "-n",
    "stop": "--stop",
    "thinking": "--thinking",
    "model": "-m/--model",
}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PLACEHOLDER = re.compile(
    r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*|\[-?\d+\])*)\}"
)
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(-?\d+)\]")
_ASPECT = re.compile(r"\d{1,2}:\d{1,2}")
_IMAGE_SIZE = re.compile(r"\d{1,2}[Kk]")
_COMMANDS = ("models", "config", "login", "reset", "history", "offline", "panel", "help")


class PromptError(GeminiError):
    """The prompt or an option names something the notebook does not have."""


class AnswerError(GeminiError, ValueError):
    """The answer is not what the options asked for (not JSON under ``--json``)."""


# --- prompt interpolation ------------------------------------------------------------------------


def interpolate(template: str, namespace: dict[str, Any]) -> str:
    """Fill ``{name}``, ``{name.attr}``, ``{In[3]}``, ``{Out[3]}`` from `namespace`, once.

    ``{{`` and ``}}`` are literal braces; braces around anything else (code, JSON) are left as
    they are. Inserted values are never scanned again, so a value containing ``{x}`` stays.
    """

    def fill(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        return str(_resolve(match.group(1), namespace))

    return _PLACEHOLDER.sub(fill, template)


def _resolve(expr: str, namespace: dict[str, Any]) -> Any:
    head = _NAME.match(expr)
    assert head is not None
    name = head.group(0)
    if name not in namespace:
        raise PromptError(
            f"no variable {name!r} in the notebook (write {{{{{expr}}}}} for a literal {{{expr}}})."
        )
    value = namespace[name]
    done = name
    for step in _STEP.finditer(expr, head.end()):
        attr, index = step.group(1), step.group(2)
        if attr is not None:
            try:
                value = getattr(value, attr)
            except AttributeError:
                raise PromptError(
                    f"{{{done}.{attr}}}: {type(value).__name__} has no attribute {attr!r}."
                ) from None
            done = f"{done}.{attr}"
            continue
        i = int(index)
        try:
            value = value[i]
        except (KeyError, IndexError):
            if name == "Out" and done == "Out":
                raise PromptError(
                    f"{{Out[{i}]}}: cell {i} has not run or returned nothing (Out has no {i})."
                ) from None
            if name == "In" and done == "In":
                raise PromptError(
                    f"{{In[{i}]}}: there is no cell {i} yet ({len(value) - 1} cells have run)."
                ) from None
            raise PromptError(f"{{{done}[{i}]}}: index {i} does not exist.") from None
        except TypeError:
            raise PromptError(
                f"{{{done}[{i}]}}: {type(value).__name__} cannot be indexed."
            ) from None
        done = f"{done}[{i}]"
    return value


# --- argument parsing --------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"%%gemini: {message} (see %gemini --help)")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise UsageError(message or "%%gemini: invalid options")


def _identifier(value: str) -> str:
    if not value.isidentifier():
        raise argparse.ArgumentTypeError(f"{value!r} is not a valid Python name")
    return value


def _build_parser() -> _Parser:
    p = _Parser(
        prog="%%gemini",
        add_help=False,
        exit_on_error=False,
        usage="%%gemini [options]\n<prompt: the rest of the cell>",
        description=(
            "Ask Gemini; the cell body is the prompt. {name}, {name.attr}, {In[3]} and {Out[3]} "
            "insert notebook values; {{ and }} are literal braces. The answer streams as safe "
            "Markdown; the Reply is kept in _gemini."
        ),
        epilog=(
            "Line commands: %gemini models | config [KEY=VALUE] | login | reset [NAME] | "
            "history [NAME] | offline [off] | help. Settings: %config Gemini.model = '...'."
        ),
    )
    p.add_argument("-h", "--help", action="store_true", help="show this help and do nothing")
    p.add_argument("-m", "--model", help="model name (default: Gemini.model / $GEMINI_MODEL)")
    p.add_argument("-s", "--system", help="system prompt")
    p.add_argument("-t", "--temperature", type=float, help="sampling temperature, 0-2")
    p.add_argument("--top-p", type=float, dest="top_p", help="nucleus sampling, 0-1")
    p.add_argument("--max-tokens", type=int, dest="max_tokens", help="longest answer in tokens")
    p.add_argument(
        "--stop", action="append", metavar="TEXT", help="stop at TEXT (repeat for up to 4)"
    )
    p.add_argument("-n", type=int, help="number of answers")
    p.add_argument(
        "--json", action="store_true", help="JSON mode: the parsed answer is the cell's result"
    )
    p.add_argument(
        "--thinking",
        nargs="?",
        const="on",
        metavar="low|medium|high|BUDGET",
        help="let the model think first (shown folded); 'off' to switch it off",
    )
    p.add_argument("--no-stream", action="store_true", help="wait for the whole answer")
    p.add_argument(
        "-o", "--output", type=_identifier, metavar="NAME", help="also keep the Reply in NAME"
    )
    p.add_argument(
        "-c",
        "--chat",
        nargs="?",
        const="default",
        metavar="NAME",
        help="continue the conversation NAME (default: 'default')",
    )
    p.add_argument(
        "-a",
        "--attach",
        nargs="+",
        action="extend",
        metavar="NAME",
        type=_identifier,
        help="attach notebook variables (bytes, paths, URLs, images, replies)",
    )
    p.add_argument(
        "-f",
        "--format",
        choices=FORMATS,
        help="markdown (default), text, code (code goes into a new cell), json",
    )
    p.add_argument("--aspect-ratio", dest="aspect_ratio", help="image models: e.g. 16:9")
    p.add_argument("--image-size", dest="image_size", help="image models: 1K, 2K or 4K")
    return p


def _thinking(value: str | None) -> bool | int | str | None:
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered in ("on", "true", "yes", "auto"):
        return True
    if lowered in ("off", "false", "no", "none"):
        return False
    if lowered in ("low", "medium", "high"):
        return lowered
    try:
        return int(lowered)
    except ValueError:
        raise UsageError(
            f"%%gemini: --thinking takes low, medium, high, off or a token budget; got {value!r}"
        ) from None


def _usage_from_value_error(exc: ValueError) -> UsageError:
    message = str(exc)
    for param, option in _OPTION_FOR.items():
        if message.startswith(param + " ") or message.startswith(param + ":"):
            return UsageError(f"%%gemini {option}: {message}")
    return UsageError(f"%%gemini: {message}")


class _Shown:
    """Passes events to a view and counts what of the first answer it has shown.

    When a stream stops early (Ctrl-C, a mid-stream error) the client has already folded some
    text into the reply that no event carried; `catch_up` shows that rest, so the screen and
    `_gemini` agree.
    """

    def __init__(self, view: Any) -> None:
        self.view = view
        self.events = 0
        self.text = 0
        self.reasoning = 0
        self.images = 0

    def feed(self, event: Any) -> None:
        self.events += 1
        if getattr(event, "index", 0) == 0:
            if event.type == "text":
                self.text += len(event.text)
            elif event.type == "reasoning":
                self.reasoning += len(event.text)
            elif event.type == "image":
                self.images += 1
        self.view.feed(event)

    def catch_up(self, reply: Reply) -> None:
        from .._types import ImageEvent, ReasoningDelta, TextDelta

        choice = reply.choices[0]
        reasoning = choice.reasoning
        if len(reasoning) > self.reasoning and not self.text:
            self.feed(ReasoningDelta(reasoning[self.reasoning :]))
        text = choice.text
        if len(text) > self.text:
            self.feed(TextDelta(text[self.text :]))
        for image in choice.images[self.images :]:
            self.feed(ImageEvent(image))


# --- the magics ------------------------------------------------------------------------------------


@magics_class
class GeminiMagics(Magics):
    """``%%gemini`` (ask) and ``%gemini`` (models, config, login, reset, history, offline, help)."""

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self.settings = Gemini(parent=shell)
        self.conversations: dict[str, Conversation] = {}
        self._api_key: str | None = None  # from %gemini login: memory only
        self._client: Client | None = None
        self._client_key: tuple[Any, ...] | None = None
        self._offline: FakeGateway | None = None
        self._auto_offline = False  # offline because nothing was configured (not %gemini offline)
        self._parser: _Parser | None = None

    # -- settings and client --------------------------------------------------------------------

    @property
    def parser(self) -> _Parser:
        if self._parser is None:
            self._parser = _build_parser()
        return self._parser

    def _effective(self) -> dict[str, Any]:
        s = self.settings
        nothing = _offline.nothing_configured(self._api_key, s.base_url)
        if self._offline is None and nothing:
            self._offline = _offline.gateway()  # a first run without a key: answer offline
            self._auto_offline = True
            _offline.notice_once()
        elif self._auto_offline and not nothing:
            self._offline = None  # a key or gateway was configured since: use it
            self._auto_offline = False
        if self._offline is not None:
            base_url: str | None = self._offline.base_url
            key: str | None = self._offline.api_key
        else:
            base_url = s.base_url or os.environ.get("GEMINI_BASE_URL") or None
            key = self._api_key or os.environ.get("GEMINI_API_KEY") or None
        return {
            "api_key": key,
            "base_url": base_url,
            "model": s.model or os.environ.get("GEMINI_MODEL") or None,
            "timeout": float(s.timeout),
            "idle_timeout": float(s.idle_timeout),
            "max_retries": int(s.max_retries),
            "thinking_style": str(s.thinking_style),
            "allow_insecure": bool(s.allow_insecure),
        }

    def client(self) -> Client:
        """The client for the current settings (made again when they change)."""
        options = self._effective()
        key = tuple(sorted(options.items()))
        if self._client is not None and key == self._client_key:
            return self._client
        from ..client._client import Client

        try:
            client = Client(**options)
        except MissingKeyError as exc:
            raise MissingKeyError(
                exc.message, hint=f"{MissingKeyError.hint} {OFFLINE_HINT}"
            ) from None
        except InsecureURLError as exc:
            if not exc.hint:  # a malformed URL's message already says what to write
                raise
            raise InsecureURLError(  # the magic's words for the client's allow_insecure=True
                exc.message,
                hint="Use an https:// base URL, or run %gemini config allow_insecure=true if "
                "you trust the network.",
            ) from None
        if self._client is not None:
            self._client.close()
        self._client, self._client_key = client, key
        return client

    @property
    def offline(self) -> bool:
        return self._offline is not None

    def close(self) -> None:
        """Stop the offline gateway and close the client (``%unload_ext``)."""
        if self._client is not None:
            self._client.close()
            self._client = None
        self._offline = None  # the shared offline gateway itself stops at exit

    @property
    def ip(self) -> Any:
        """The shell (always set once the magics are registered)."""
        assert self.shell is not None
        return self.shell

    def _in_kernel(self) -> bool:
        return getattr(self.shell, "kernel", None) is not None

    # -- %%gemini ---------------------------------------------------------------------------------

    @line_cell_magic
    def gemini(self, line: str, cell: str | None = None) -> Any:
        """``%%gemini [options]`` then the prompt: ask Gemini (``%%gemini --help`` for options).

        ``%gemini models | config [KEY=VALUE] | login | reset [NAME] | history [NAME] |
        offline [off] | help``: the line commands.
        """
        if cell is None:
            return self.gemini_line(line)
        return self.gemini_cell(line, cell)

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
        options = self._options(args)
        ns: dict[str, Any] = self.ip.user_ns
        prompt = interpolate(cell or "", ns).strip()
        if not prompt:
            raise UsageError("%%gemini: the cell is empty; write the prompt below %%gemini")
        objects = []
        for name in args.attach or ():
            if name not in ns:
                raise PromptError(f"-a/--attach: no variable {name!r} in the notebook.")
            objects.append((name, ns[name]))
        content: Any = prompt
        if objects:
            from ..attachments import AttachmentError, to_content_parts

            parts = [{"type": "text", "text": prompt}]
            for name, obj in objects:
                try:
                    parts.extend(to_content_parts([obj]))
                except AttachmentError as exc:  # say which of the -a variables it was
                    raise AttachmentError(f"-a {name}: {exc}") from None
            content = parts
        if args.chat is not None:
            conversation = self.conversations.get(args.chat)
            if conversation is None:
                conversation = self.conversations[args.chat] = Conversation(args.chat)
            if args.system is not None:
                conversation.system = args.system
            elif conversation.system is None and not conversation.messages:
                conversation.system = self.settings.system
        else:
            conversation = Conversation(system=args.system or self.settings.system)
        messages = conversation.messages_for(content)
        fmt = "json" if args.json else (args.format or self.settings.format)
        stream = self.settings.stream and not args.no_stream
        reply = self._ask(
            messages, options, fmt=fmt, stream=stream, keep_result=not args.json, output=args.output
        )
        if args.chat is not None:
            conversation.record(content, reply)
        if fmt == "code":
            from ..render._markdown import code_blocks

            code = "\n\n".join(c.rstrip("\n") for _, c in code_blocks(reply.text))
            self.ip.set_next_input(code or reply.text.strip(), replace=False)
        if args.json:
            try:
                return reply.json()
            except ValueError as exc:
                raise AnswerError(str(exc)) from None
        return None

    def _options(self, args: argparse.Namespace) -> dict[str, Any]:
        from ..client._request import validate_options

        thinking = _thinking(args.thinking)
        options: dict[str, Any] = {
            "model": args.model,
            "temperature": args.temperature,
            "top_p": args.top_p,
            "max_tokens": args.max_tokens,
            "n": args.n,
            "stop": args.stop,
            "thinking": thinking,
        }
        try:
            validate_options(
                temperature=args.temperature,
                top_p=args.top_p,
                max_tokens=args.max_tokens,
                n=args.n,
                stop=args.stop,
                thinking=thinking,
                thinking_style=self.settings.thinking_style,
            )
        except ValueError as exc:
            raise _usage_from_value_error(exc) from None
        if args.model is not None and not args.model.strip():
            raise UsageError("%%gemini -m/--model: the model name is empty")
        if args.stop is not None and len(args.stop) == 1:
            options["stop"] = args.stop[0]
        if args.json:
            options["json"] = True
        image_config: dict[str, str] = {}
        if args.aspect_ratio is not None:
            if not _ASPECT.fullmatch(args.aspect_ratio):
                raise UsageError(
                    f"%%gemini --aspect-ratio: write it as W:H, such as 16:9; got {args.aspect_ratio!r}"
                )
            image_config["aspect_ratio"] = args.aspect_ratio
        if args.image_size is not None:
            if not _IMAGE_SIZE.fullmatch(args.image_size):
                raise UsageError(
                    f"%%gemini --image-size: use 1K, 2K or 4K; got {args.image_size!r}"
                )
            image_config["image_size"] = args.image_size.upper()
        if image_config:
            # `extra_body` holds extra top-level fields (as in the OpenAI SDK); Gemini gateways
            # read image options from a literal "extra_body": {"google": ...} field in the JSON.
            if self.settings.thinking_style == "openrouter":
                options["extra_body"] = {"image_config": image_config}
            else:
                options["extra_body"] = {"extra_body": {"google": {"image_config": image_config}}}
        return {k: v for k, v in options.items() if v is not None}

    def _keep(self, reply: Reply, output: str | None) -> None:
        self.ip.user_ns["_gemini"] = reply
        if output:
            self.ip.user_ns[output] = reply

    def _ask(
        self,
        messages: list[dict[str, Any]],
        options: dict[str, Any],
        *,
        fmt: str,
        stream: bool,
        keep_result: bool,
        output: str | None,
    ) -> Reply:
        from .._errors import StreamError
        from ..attachments import AttachmentError
        from ..render._display import IPythonPublisher, LiveMarkdown, TerminalStream, replay_events

        client = self.client()
        model = options.get("model") or client.model
        offline = self._offline is not None and client.base_url.startswith(self._offline.base_url)
        view: LiveMarkdown | TerminalStream
        if self._in_kernel():
            view = LiveMarkdown(
                IPythonPublisher(self.shell),
                fmt=fmt,
                live=stream,
                final=keep_result,
                interval=1.0 / float(self.settings.updates_per_second),
            )
        else:
            view = TerminalStream(sys.stdout, fmt=fmt, show_text=keep_result)
        started = time.perf_counter()
        shown = _Shown(view)
        reply: Reply | None = None
        try:
            if stream:
                s = client.stream(messages, **options)
                reply = s.reply
                self._keep(reply, output)
                with s:
                    for event in s:
                        shown.feed(event)
                if s.reply is not reply:  # the gateway ignored stream=true and sent one body
                    reply = s.reply
                    self._keep(reply, output)
                if not shown.events:
                    for event in replay_events(reply):
                        shown.feed(event)
            else:
                reply = client.chat(messages, **options)
                self._keep(reply, output)
                for event in replay_events(reply):
                    shown.feed(event)
        except KeyboardInterrupt:
            if reply is not None:
                shown.catch_up(reply)
                self._finish(view, reply, model, started, offline)
            raise
        except StreamError as exc:
            reply = exc.reply or reply
            if reply is not None:
                self._keep(reply, output)
                shown.catch_up(reply)
                self._finish(view, reply, model, started, offline)
            raise
        except (GeminiError, AttachmentError) as exc:
            view.close()
            if reply is None and isinstance(exc, GeminiError):
                from .._types import Reply

                reply = Reply(error=exc)  # _gemini says the request failed, and why
                self._keep(reply, output)
            raise
        except ValueError as exc:
            view.close()
            raise _usage_from_value_error(exc) from None
        shown.catch_up(reply)
        self._finish(view, reply, model, started, offline)
        return reply

    def _finish(
        self,
        view: Any,
        reply: Reply,
        model: str,
        started: float,
        offline: bool,
    ) -> None:
        from ..render._display import footer_bundle

        view.close()
        choices: Sequence[Choice] = reply.choices
        for number, choice in enumerate(choices[1:], start=2):
            view.extra_choice(choice, number, len(choices))
        seconds = time.perf_counter() - started
        view.show(footer_bundle(reply, model=model, seconds=seconds, offline=offline))

    # -- %gemini ------------------------------------------------------------------------------------

    def gemini_line(self, line: str) -> Any:
        """The line commands (ask questions with ``%%gemini`` in a cell)."""
        try:
            argv = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"%gemini: cannot read {line!r} ({exc})") from None
        if not argv or argv[0] in ("help", "-h", "--help"):
            if argv and argv[0] != "help":
                print(self.parser.format_help())  # the cell magic's options
            print(self.help_text())
            return None
        command, rest = argv[0], argv[1:]
        handlers: dict[str, Callable[[list[str]], Any]] = {
            "models": self._cmd_models,
            "config": self._cmd_config,
            "login": self._cmd_login,
            "reset": self._cmd_reset,
            "history": self._cmd_history,
            "offline": self._cmd_offline,
            "panel": self._cmd_panel,
        }
        handler = handlers.get(command)
        if handler is None:
            raise UsageError(
                f"%gemini: unknown command {command!r}; commands: {', '.join(_COMMANDS)}. "
                "To ask a question, start a cell with %%gemini (two percent signs)."
            )
        return handler(rest)

    def help_text(self) -> str:
        return (
            "%%gemini [options]  (cell magic; the cell is the prompt; %gemini --help for options)\n"
            "%gemini models            list the gateway's models\n"
            "%gemini config            show the effective settings (the key is masked)\n"
            "%gemini config KEY=VALUE  change a setting ("
            + ", ".join(self.settings.settable())
            + ")\n"
            "%gemini login             enter the API key without echo (kept in memory only)\n"
            "%gemini reset [NAME]      forget a conversation's turns (all of them without NAME)\n"
            "%gemini history [NAME]    show a conversation (default: 'default')\n"
            "%gemini offline [off]     answer from a built-in fake gateway (no key, no network)\n"
            "%gemini panel [NAME]      open a chat panel on conversation NAME (default: 'default')\n"
            "%gemini help              this list\n"
            "Settings are also traitlets: %config Gemini.model = 'gemini-2.5-pro'"
        )

    def _cmd_models(self, rest: list[str]) -> None:
        if rest:
            raise UsageError("%gemini models takes no arguments")
        models = self.client().models()
        from ..render._markdown import escape

        rows = [(m.id, m.owned_by or "") for m in models]
        width = max([len("model"), *(len(r[0]) for r in rows)])
        text = "\n".join(
            [f"{'model':<{width}}  owned by", *(f"{a:<{width}}  {b}" for a, b in rows)]
        )
        cells = "".join(
            f"<tr><td><code>{escape(a)}</code></td><td>{escape(b)}</td></tr>" for a, b in rows
        )
        html = f"<table><thead><tr><th>model</th><th>owned by</th></tr></thead><tbody>{cells}</tbody></table>"
        if not rows:
            text = html = "The gateway lists no models."
        self.ip.display_pub.publish(data={"text/plain": text, "text/html": html}, metadata={})

    def config_lines(self) -> list[str]:
        from ..client._client import DEFAULT_BASE_URL, DEFAULT_MODEL, mask_key

        s = self.settings
        eff = self._effective()
        if self._offline is not None:
            key_source = "offline gateway"
            url_source = "offline gateway"
        else:
            key_source = (
                "%gemini login (memory)"
                if self._api_key
                else "GEMINI_API_KEY"
                if os.environ.get("GEMINI_API_KEY")
                else "not set"
            )
            url_source = (
                "Gemini.base_url"
                if s.base_url
                else "GEMINI_BASE_URL"
                if os.environ.get("GEMINI_BASE_URL")
                else "default"
            )
        model_source = (
            "Gemini.model"
            if s.model
            else "GEMINI_MODEL"
            if os.environ.get("GEMINI_MODEL")
            else "default"
        )
        rows = [
            ("model", eff["model"] or DEFAULT_MODEL, model_source),
            ("base_url", eff["base_url"] or DEFAULT_BASE_URL, url_source),
            ("api_key", mask_key(eff["api_key"]), key_source),
        ]
        for name in self.settings.settable():
            if name in ("model", "base_url"):
                continue
            rows.append((name, repr(getattr(s, name)), ""))
        width = max(len(r[0]) for r in rows)
        return [f"{a:<{width}} = {b}" + (f"  ({c})" if c else "") for a, b, c in rows]

    def _cmd_config(self, rest: list[str]) -> None:
        if not rest:
            print("\n".join(self.config_lines()))
            return
        for item in rest:
            name, sep, value = item.partition("=")
            name = name.strip()
            if not sep:
                raise UsageError(f"%gemini config: write KEY=VALUE, not {item!r}")
            if name in ("api_key", "key"):
                raise UsageError(
                    "%gemini config: the API key is not a setting (it would be saved in the "
                    "notebook); use %gemini login or the GEMINI_API_KEY environment variable"
                )
            try:
                new = self.settings.set_from_string(name, value)
            except KeyError:
                raise UsageError(
                    f"%gemini config: unknown setting {name!r}; settings: "
                    + ", ".join(self.settings.settable())
                ) from None
            except Exception as exc:  # traitlets raises TraitError and ValueError
                raise UsageError(f"%gemini config {name}: {exc}") from None
            if name == "base_url" and self._offline is not None:
                self._stop_offline()
                print("Offline mode is off (a base_url was set).")
            print(f"{name} = {new!r}")

    def _cmd_login(self, rest: list[str]) -> None:
        if rest:
            raise UsageError(
                "%gemini login takes no arguments (typing the key into a cell would save it in "
                "the notebook); it asks for the key without echo"
            )
        import getpass

        from ..client._client import mask_key

        try:
            key = getpass.getpass("Gemini API key (not echoed, kept in memory only): ")
        except Exception as exc:  # StdinNotImplementedError in front ends without input
            raise UsageError(
                f"%gemini login needs a front end that can ask for input ({type(exc).__name__}); "
                "set GEMINI_API_KEY before starting Jupyter instead"
            ) from None
        key = key.strip()
        if not key:
            print("No key entered; nothing changed.")
            return
        self._api_key = key
        if self._offline is not None:
            self._stop_offline()
            print("Offline mode is off.")
        print(f"API key {mask_key(key)} kept in memory for this kernel only.")

    def _cmd_reset(self, rest: list[str]) -> None:
        if len(rest) > 1:
            raise UsageError("%gemini reset takes at most one conversation name")
        if not rest:
            for conversation in self.conversations.values():
                conversation.reset()
            print(f"Forgot the turns of {len(self.conversations)} conversation(s).")
            return
        name = rest[0]
        found = self.conversations.get(name)
        if found is None:
            raise UsageError(f"%gemini reset: no conversation named {name!r}{self._known()}")
        found.reset()
        kept = " (its system prompt stays)" if found.system else ""
        print(f"Forgot the turns of conversation {name!r}{kept}.")

    def _cmd_panel(self, rest: list[str]) -> Any:
        """A ChatPanel with these settings, continuing the conversation ``%%gemini -c NAME`` uses."""
        if len(rest) > 1:
            raise UsageError("%gemini panel takes at most one conversation name")
        name = rest[0] if rest else "default"
        conversation = self.conversations.get(name)
        if conversation is None:
            conversation = self.conversations[name] = Conversation(
                name, self.settings.system or None
            )
        from ..panel import ChatPanel

        options = self._effective()
        return ChatPanel(
            api_key=options["api_key"],
            base_url=options["base_url"],
            model=options["model"],
            conversation=conversation,
        )

    def _cmd_history(self, rest: list[str]) -> None:
        if len(rest) > 1:
            raise UsageError("%gemini history takes at most one conversation name")
        name = rest[0] if rest else "default"
        conversation = self.conversations.get(name)
        if conversation is None:
            if rest:
                raise UsageError(f"%gemini history: no conversation named {name!r}{self._known()}")
            print("No conversation yet: continue one with %%gemini -c [NAME].")
            return
        print(conversation.transcript())

    def _known(self) -> str:
        names = ", ".join(repr(n) for n in sorted(self.conversations))
        return f" (conversations: {names})" if names else " (there are none yet)"

    def _cmd_offline(self, rest: list[str]) -> None:
        if rest and rest != ["off"]:
            raise UsageError("%gemini offline takes nothing or 'off'")
        if rest == ["off"]:
            if self._offline is None:
                print("Offline mode is not on.")
            else:
                self._stop_offline()
                print("Offline mode is off: answers come from the configured gateway again.")
            return
        if self._offline is None:
            self._offline = _offline.gateway()
        self._auto_offline = False
        print(
            "OFFLINE mode: answers now come from ipygemini's built-in fake gateway at "
            f"{self._offline.base_url}, not from Gemini. They are canned and free; "
            "%gemini offline off (or %gemini login) switches back."
        )

    def _stop_offline(self) -> None:
        self._offline = None  # the shared gateway keeps running for other users (the panel)


# --- extension entry points ---------------------------------------------------------------------

_LOADED: dict[int, GeminiMagics] = {}


def load_ipython_extension(ipython: Any) -> None:
    """Register %%gemini / %gemini and the ``Gemini`` configurable on `ipython`."""
    if id(ipython) in _LOADED:
        return
    magics = GeminiMagics(ipython)
    ipython.register_magics(magics)
    if _offline.nothing_configured():
        _offline.notice_once()
    ipython.configurables.append(magics.settings)
    _LOADED[id(ipython)] = magics


def unload_ipython_extension(ipython: Any) -> None:
    """Remove the magics and stop what they started (client, offline gateway)."""
    magics = _LOADED.pop(id(ipython), None)
    if magics is None:
        return
    magics.close()
    if magics.settings in ipython.configurables:
        ipython.configurables.remove(magics.settings)
    table = ipython.magics_manager.magics
    table["cell"].pop("gemini", None)
    table["line"].pop("gemini", None)
    ipython.magics_manager.registry.pop(type(magics).__name__, None)
