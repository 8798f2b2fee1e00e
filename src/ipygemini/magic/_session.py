"""`Session`: the magics' state: one resolved `Settings`, the cached client, the conversations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from .._conversation import Conversation
from .._errors import InsecureURLError, MissingKeyError
from ._config import Gemini

if TYPE_CHECKING:
    from .._settings import Settings
    from ..client import Client

__all__ = ["OFFLINE_HINT", "Session", "make_client"]

OFFLINE_HINT = (
    "To try ipygemini without a key, run %gemini offline (answers come from a local fake)."
)


def make_client(settings: Settings, sleep: Callable[[float], object] | None = None) -> Client:
    """The one place a `Settings` becomes the magic's `Client`."""
    from ..client import Client

    return Client(settings, sleep=sleep)


class Session:
    """What the magics of one shell remember between cells.

    Settings are resolved on every use (arguments > ``%config Gemini.*`` > environment >
    offline rule), so a change anywhere takes effect at the next cell; the client is made again
    only when the resolved settings differ from those it was made with.
    """

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self.config = Gemini(parent=shell)
        self.conversations: dict[str, Conversation] = {}
        self.api_key: str | None = None  # from %gemini login: memory only
        self.offline_chosen = False  # %gemini offline (the offline rule needs nothing)
        self._client: Client | None = None
        self._client_settings: tuple[Settings, object] | None = None
        self.sleep: Callable[[float], object] | None = None
        """How the client waits before a retry (None: time.sleep); tests record the waits."""

    def config_values(self) -> dict[str, Any]:
        """``%config Gemini.*`` as `Settings.resolve` reads it: the shell's config section,
        overridden by the configurable's own values (None = unset)."""
        from .._settings import Settings

        names = {f.name for f in fields(Settings)}
        section = self.shell.config.get("Gemini") if hasattr(self.shell, "config") else None
        values = {k: v for k, v in dict(section or {}).items() if k in names}
        values.update({n: getattr(self.config, n) for n in self.config.settable() if n in names})
        return values

    def settings(self) -> Settings:
        """The settings every request of the magic uses, and `%gemini panel` passes on."""
        from .._settings import Settings

        arguments: dict[str, Any] = {"api_key": self.api_key}
        if self.offline_chosen:  # Settings decides the offline rule (and starts the gateway)
            arguments = {"offline": True}
        try:
            settings = Settings.resolve(config=self.config_values(), **arguments)
        except MissingKeyError as exc:
            raise MissingKeyError(
                exc.message, hint=f"{MissingKeyError.hint} {OFFLINE_HINT}"
            ) from None
        except InsecureURLError as exc:
            if not exc.hint:  # a malformed URL's message already says what to write
                raise
            raise InsecureURLError(  # the magic's words for allow_insecure=True
                exc.message,
                hint="Use an https:// base URL, or run %gemini config allow_insecure=true if "
                "you trust the network.",
            ) from None
        return settings.replace(offline=True) if self.offline_chosen else settings

    def client(self) -> Client:
        """The client for the current settings (made again when they change)."""
        settings = self.settings()
        made_for = (settings, self.sleep)
        if self._client is not None and made_for == self._client_settings:
            return self._client
        client = make_client(settings, self.sleep)
        if self._client is not None:
            self._client.close()
        self._client, self._client_settings = client, made_for
        return client

    def conversation(self, name: str) -> Conversation:
        """The shared conversation `name` (made on first use): the magic and panels record here."""
        found = self.conversations.get(name)
        if found is None:
            found = self.conversations[name] = Conversation(name, self.config.system or None)
        return found

    def close(self) -> None:
        """Close the client (``%unload_ext``); the shared offline gateway stops at exit."""
        if self._client is not None:
            self._client.close()
            self._client = None
            self._client_settings = None
