"""The ``%gemini`` line commands, from one table (`COMMAND_TABLE`): help, ``--help``, the
dispatcher and README's list of commands are derived from it."""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from . import _log_commands

if TYPE_CHECKING:
    from .._conversation import Conversation
    from .._settings import Settings
    from ._session import Session

__all__ = [
    "COMMANDS",
    "COMMAND_TABLE",
    "Command",
    "LineCommands",
    "command_list",
    "gateway_lesson",
    "lesson_text",
]


@dataclass(frozen=True, slots=True)
class Command:
    """One ``%gemini`` line command: the one row help, ``--help``, README's list and the
    dispatcher are all derived from."""

    name: str
    usage: str
    """What follows ``%gemini`` (the name and its arguments)."""
    summary: str


COMMAND_TABLE = (
    Command("models", "models", "list the gateway's models"),
    Command("config", "config [KEY=VALUE]", "show the effective settings, or change one"),
    Command("login", "login", "enter the API key without echo (kept in memory only)"),
    Command("reset", "reset [NAME]", "forget a conversation's turns (all of them without NAME)"),
    Command("history", "history [NAME]", "show a conversation (default: 'default')"),
    Command("offline", "offline [off]", "answer from a built-in fake gateway (no key, no network)"),
    Command(
        "panel",
        "panel [--side] [NAME]",
        "open a chat panel on conversation NAME (default: 'default'); --side: beside the notebook",
    ),
    Command(
        "mcp", "mcp [stop [NAME]]", "MCP servers configured and running, their tools; or end them"
    ),
    Command("log", "log [-n N] [WORDS | ID]", "recent exchanges (matching WORDS), or one by ID"),
    Command("usage", "usage", "tokens and estimated cost by model"),
    Command(
        "fix",
        "fix [--explain] [-m, -t, --max-tokens, …]",
        "explain the last error; propose the corrected cell below",
    ),
    Command("help", "help", "this list (--help: also every option of %%gemini)"),
)
COMMANDS = tuple(command.name for command in COMMAND_TABLE)


def command_list() -> str:
    """The commands in one line, as README.md writes them: ``models | config [KEY=VALUE] | …``."""
    return " | ".join(command.usage for command in COMMAND_TABLE)


def lesson_text(facts: Mapping[str, Any]) -> str:
    """What a gateway taught (a `log._gateways.learned` row), in one line; "" for nothing."""
    parts = []
    if facts.get("kind"):
        parts.append(f"a {facts['kind']} gateway")
    if facts.get("json_schema_refused"):
        parts.append("refuses json_schema (schemas go as json_object)")
    for model, levels in sorted((facts.get("levels") or {}).items()):
        parts.append(f"{model} thinks at {', '.join(levels)}")
    for model, rate in sorted((facts.get("rates") or {}).items()):
        parts.append(f"{model} batches start at {float(rate):.3g} requests/s")
    return "; ".join(parts)


def gateway_lesson(base_url: str) -> str:
    """What the gateway at `base_url` taught the client (item 29), or "" for nothing."""
    from ..log import gateways

    rows: Sequence[Mapping[str, Any]] = gateways(base_url)
    return "; ".join(text for text in map(lesson_text, rows) if text)


def open_panel(settings: Settings, conversation: Conversation) -> Any:
    """A chat panel on the magic's settings, continuing `conversation`."""
    from ..panel import ChatPanel

    return ChatPanel(settings=settings, conversation=conversation)


class LineCommands:
    """``%gemini COMMAND``, mixed into `GeminiMagics` (which provides `session`)."""

    session: Session

    def gemini_line(self, line: str) -> Any:
        """The line commands (ask questions with ``%%gemini`` in a cell)."""
        try:
            argv = shlex.split(line)
        except ValueError as exc:
            if line.split(None, 1)[:1] == ["log"]:  # `log don't`: words are words (item 14)
                return _log_commands.log_command(line.split(None, 1)[1])
            raise UsageError(f"%gemini: cannot read {line!r} ({exc})") from None
        if not argv or argv[0] in ("help", "-h", "--help"):
            if argv and argv[0] != "help":
                from ._options import build_parser

                parser = build_parser()
                if "%%gemini" not in parser.format_usage():  # argparse %-formats the usage
                    parser.usage = (parser.usage or "").replace("%", "%%")
                parser.epilog = None  # the line commands follow, from the table
                print(parser.format_help())
            print(self.help_text())
            return None
        command, rest = argv[0], argv[1:]
        special: dict[str, Callable[[list[str]], Any]] = {
            "log": _log_commands.log_command,
            "usage": lambda rest: _log_commands.usage_command(rest, self.session.config.prices),
            "mcp": self._cmd_mcp,
        }
        if command not in COMMANDS or command == "help":
            raise UsageError(
                f"%gemini: unknown command {command!r}; commands: {', '.join(COMMANDS)}. "
                "To ask a question, start a cell with %%gemini (two percent signs)."
            )
        handler = special.get(command) or getattr(self, f"_cmd_{command}")
        return handler(rest)

    def help_text(self) -> str:
        """The line commands, from `COMMAND_TABLE`."""
        width = max(len(command.usage) for command in COMMAND_TABLE) + len("%gemini ")
        lines = [
            "%%gemini [options]  (cell magic; the cell is the prompt; %gemini --help for options)"
        ]
        for command in COMMAND_TABLE:
            lines.append(f"{'%gemini ' + command.usage:<{width}}  {command.summary}")
        lines.append("Settings: " + ", ".join(self.session.config.settable()))
        lines.append("Settings are also traitlets: %config Gemini.model = 'gemini-2.5-pro'")
        return "\n".join(lines)

    def _cmd_models(self, rest: list[str]) -> None:
        if rest:
            raise UsageError("%gemini models takes no arguments")
        models = self.session.client().models()
        from ..render import escape

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
        self.session.shell.display_pub.publish(
            data={"text/plain": text, "text/html": html}, metadata={}
        )

    def config_lines(self) -> list[str]:
        """The effective settings, one per line, with where the connection ones came from."""
        session = self.session
        settings = session.settings()
        configured = session.config_values()

        def source(name: str, env: str) -> str:
            if configured.get(name):
                return f"Gemini.{name}"
            return env if os.environ.get(env) else "default"

        if settings.offline:
            key_source = url_source = "offline gateway"
        else:
            key_source = (
                "%gemini login (memory)"
                if session.api_key
                else "GEMINI_API_KEY"
                if os.environ.get("GEMINI_API_KEY")
                else "not set"
            )
            url_source = source("base_url", "GEMINI_BASE_URL")
        rows = [
            ("model", settings.model, source("model", "GEMINI_MODEL")),
            ("base_url", settings.base_url, url_source),
            ("api_key", settings.api_key_hint, key_source),
        ]
        for name in session.config.settable():
            if name in ("model", "base_url"):
                continue
            value = getattr(settings, name, getattr(session.config, name))
            note = "picked per gateway" if name == "thinking_style" and value is None else ""
            rows.append((name, repr(value), note))
        lesson = gateway_lesson(settings.base_url)
        if lesson:
            rows.append(("learned", lesson, "from this gateway, kept per base URL"))
        width = max(len(r[0]) for r in rows)
        return [f"{a:<{width}} = {b}" + (f"  ({c})" if c else "") for a, b, c in rows]

    def _cmd_config(self, rest: list[str]) -> None:
        if not rest:
            print("\n".join(self.config_lines()))
            return
        config = self.session.config
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
                new = config.set_from_string(name, value)
            except KeyError:
                raise UsageError(
                    f"%gemini config: unknown setting {name!r}; settings: "
                    + ", ".join(config.settable())
                ) from None
            except Exception as exc:  # traitlets raises TraitError and ValueError
                raise UsageError(f"%gemini config {name}: {exc}") from None
            # The shell's config too, so Settings.resolve() anywhere (a panel, connect()) agrees.
            self.session.shell.config.Gemini[name] = new
            if name == "base_url" and self.session.offline_chosen:
                self.session.offline_chosen = False
                print("Offline mode is off (a base_url was set).")
            print(f"{name} = {new!r}")

    def _cmd_login(self, rest: list[str]) -> None:
        if rest:
            raise UsageError(
                "%gemini login takes no arguments (typing the key into a cell would save it in "
                "the notebook); it asks for the key without echo"
            )
        import getpass

        from .._masking import mask_key

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
        self.session.api_key = key
        if self.session.offline_chosen:
            self.session.offline_chosen = False
            print("Offline mode is off.")
        print(f"API key {mask_key(key)} kept in memory for this kernel only.")

    def _cmd_reset(self, rest: list[str]) -> None:
        if len(rest) > 1:
            raise UsageError("%gemini reset takes at most one conversation name")
        conversations = self.session.conversations
        if not rest:
            for conversation in conversations.values():
                conversation.reset()
            print(f"Forgot the turns of {len(conversations)} conversation(s).")
            return
        name = rest[0]
        found = conversations.get(name)
        if found is None:
            raise UsageError(f"%gemini reset: no conversation named {name!r}{self._known()}")
        found.reset()
        kept = " (its system prompt stays)" if found.system else ""
        print(f"Forgot the turns of conversation {name!r}{kept}.")

    def _cmd_panel(self, rest: list[str]) -> Any:
        """A ChatPanel with the magic's settings, on the conversation ``%%gemini -c NAME`` uses."""
        side = "--side" in rest
        rest = [word for word in rest if word != "--side"]
        unknown = [word for word in rest if word.startswith("-")]
        if unknown:
            raise UsageError(
                f"%gemini panel: unknown option {unknown[0]}; usage: panel [--side] [NAME]"
            )
        if len(rest) > 1:
            raise UsageError("%gemini panel takes at most one conversation name")
        name = rest[0] if rest else "default"
        if not side:
            settings = self.session.settings()  # errors here carry the magic's advice
            return open_panel(settings, self.session.conversation(name))
        beside = self.__dict__.setdefault("_side_panels", {})
        panel = beside.get(name)
        if panel is None:
            settings = self.session.settings()
            panel = beside[name] = open_panel(settings, self.session.conversation(name))
        return panel.show(area="right")

    def _cmd_mcp(self, rest: list[str]) -> None:
        from ._mcp import mcp_command

        mcp_command(rest, self.session.config_values().get("mcp_servers") or {})

    def _cmd_fix(self, rest: list[str]) -> Any:
        from ._fix import run_fix

        return run_fix(self, rest)

    def _cmd_history(self, rest: list[str]) -> None:
        if len(rest) > 1:
            raise UsageError("%gemini history takes at most one conversation name")
        name = rest[0] if rest else "default"
        conversation = self.session.conversations.get(name)
        if conversation is None:
            if rest:
                raise UsageError(f"%gemini history: no conversation named {name!r}{self._known()}")
            print("No conversation yet: continue one with %%gemini -c [NAME].")
            return
        print(conversation.transcript())

    def _known(self) -> str:
        names = ", ".join(repr(n) for n in sorted(self.session.conversations))
        return f" (conversations: {names})" if names else " (there are none yet)"

    def _cmd_offline(self, rest: list[str]) -> None:
        if rest and rest != ["off"]:
            raise UsageError("%gemini offline takes nothing or 'off'")
        session = self.session
        if rest == ["off"]:
            if not session.offline_chosen:
                print("Offline mode is not on.")
            else:
                session.offline_chosen = False
                print("Offline mode is off: answers come from the configured gateway again.")
            return
        session.offline_chosen = True
        print(
            "OFFLINE mode: answers now come from ipygemini's built-in fake gateway at "
            f"{session.settings().base_url}, not from Gemini. They are canned and free; "
            "%gemini offline off (or %gemini login) switches back."
        )
