"""The ``%gemini`` line commands: models, config, login, reset, history, offline, panel, help."""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from ..gateway import _offline
from . import _log_commands

if TYPE_CHECKING:
    from .._conversation import Conversation
    from .._settings import Settings
    from ._session import Session

__all__ = ["COMMANDS", "LineCommands"]

COMMANDS = (
    "models",
    "config",
    "login",
    "reset",
    "history",
    "offline",
    "panel",
    "log",
    "usage",
    "fix",
    "help",
)


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
            raise UsageError(f"%gemini: cannot read {line!r} ({exc})") from None
        if not argv or argv[0] in ("help", "-h", "--help"):
            if argv and argv[0] != "help":
                from ._options import build_parser

                print(build_parser().format_help())  # the cell magic's options
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
            "log": _log_commands.log_command,
            "usage": lambda rest: _log_commands.usage_command(rest, self.session.config.prices),
            "fix": self._cmd_fix,
        }
        handler = handlers.get(command)
        if handler is None:
            raise UsageError(
                f"%gemini: unknown command {command!r}; commands: {', '.join(COMMANDS)}. "
                "To ask a question, start a cell with %%gemini (two percent signs)."
            )
        return handler(rest)

    def help_text(self) -> str:
        return (
            "%%gemini [options]  (cell magic; the cell is the prompt; %gemini --help for options)\n"
            "%gemini models            list the gateway's models\n"
            "%gemini config            show the effective settings (the key is masked)\n"
            "%gemini config KEY=VALUE  change a setting ("
            + ", ".join(self.session.config.settable())
            + ")\n"
            "%gemini login             enter the API key without echo (kept in memory only)\n"
            "%gemini reset [NAME]      forget a conversation's turns (all of them without NAME)\n"
            "%gemini history [NAME]    show a conversation (default: 'default')\n"
            "%gemini offline [off]     answer from a built-in fake gateway (no key, no network)\n"
            "%gemini panel [NAME]      open a chat panel on conversation NAME (default: 'default')\n"
            "%gemini log [-n N] [WORDS] recent exchanges (matching WORDS); %gemini log ID: one\n"
            "%gemini usage             tokens and estimated cost by model\n"
            "%gemini fix [--explain]   explain the last error; propose the corrected cell below\n"
            "%gemini help              this list\n"
            "Settings are also traitlets: %config Gemini.model = 'gemini-2.5-pro'"
        )

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

        from .._settings import mask_key

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
        if len(rest) > 1:
            raise UsageError("%gemini panel takes at most one conversation name")
        name = rest[0] if rest else "default"
        settings = self.session.settings()  # errors here carry the magic's advice
        return open_panel(settings, self.session.conversation(name))

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
            f"{_offline.gateway().base_url}, not from Gemini. They are canned and free; "
            "%gemini offline off (or %gemini login) switches back."
        )
