"""`Settings`: every front end's connection and behaviour settings, resolved once and frozen.

Precedence: explicit arguments, then ``%config Gemini.*`` (read from the running IPython's
config, so the panel and the client see what the magic sees), then ``GEMINI_*`` environment
variables, then the offline rule: with no key and no base URL anywhere, the built-in offline
gateway answers, and `offline` says so. `Client`, `AsyncClient`, `%%gemini`, `%gemini panel`
and `ChatPanel` all take one, so a timeout or `allow_insecure` means the same everywhere.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any
from urllib.parse import urlsplit

from ._errors import InsecureURLError, MissingKeyError, OptionError

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "THINKING_STYLES",
    "Settings",
    "is_loopback",
    "mask_key",
]

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/v1beta/openai/"
DEFAULT_MODEL = "gemini-2.5-flash"
THINKING_STYLES = ("google", "reasoning_effort", "enable_thinking", "openrouter")
"""How a gateway is told to think (PROTOCOL.md §2); None in `Settings` picks one per gateway."""

ENVIRONMENT = {"api_key": "GEMINI_API_KEY", "base_url": "GEMINI_BASE_URL", "model": "GEMINI_MODEL"}


def mask_key(key: str | None) -> str:
    """A key as it may be shown: ``…abcd`` (last four characters), or ``(not set)``."""
    if not key:
        return "(not set)"
    return "…" + key[-4:] if len(key) > 8 else "…"


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (where a key may travel over plain http)."""
    if host in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Settings:
    """Where to send requests and how: one frozen value shared by every front end.

    Build it with `Settings.resolve(...)` (arguments > ``%config Gemini.*`` > environment >
    offline rule); the constructor takes the final values and only validates them.
    """

    api_key: str | None = field(default=None, repr=False)
    base_url: str = DEFAULT_BASE_URL
    model: str = DEFAULT_MODEL
    offline: bool = False
    """True when the built-in offline gateway answers (footers say "offline")."""
    timeout: float = 60.0
    """Seconds to wait for a non-streamed answer (and for a body to make progress)."""
    idle_timeout: float = 120.0
    """Seconds a stream may go without a byte before it is given up."""
    connect_timeout: float = 10.0
    max_retries: int = 2
    """Retries of 429/5xx/connection failures that happen before any byte of an answer."""
    backoff: float = 0.5
    thinking_style: str | None = None
    """How thinking is asked for: one of `THINKING_STYLES`, or None to pick per gateway."""
    allow_insecure: bool = False
    """Allow sending the key over plain http to a host that is not loopback."""
    max_event_bytes: int = 64 * 1024 * 1024
    headers: Mapping[str, str] | None = None
    log: bool = True
    """Write every exchange to the SQLite log."""
    cache: bool = False
    """Answer an identical request from the log instead of the network."""

    def __post_init__(self) -> None:
        try:
            parts = urlsplit(self.base_url)
            parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
        except (ValueError, TypeError):
            parts = urlsplit("")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InsecureURLError(
                f"base_url must be an http(s) URL such as {DEFAULT_BASE_URL!r}; "
                f"got {self.base_url!r}."
            )
        if not self.base_url.endswith("/"):
            object.__setattr__(self, "base_url", self.base_url + "/")
        loopback = is_loopback(parts.hostname)
        if not self.api_key and not loopback:
            raise MissingKeyError("No API key: GEMINI_API_KEY is not set.")
        if parts.scheme == "http" and not loopback and not self.allow_insecure:
            raise InsecureURLError(
                f"Refusing to send the API key over plain http to {parts.hostname}.",
                hint="Use an https:// base URL, or set allow_insecure=True if you trust the network.",
            )
        for name in ("timeout", "idle_timeout", "connect_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise OptionError(f"{name} must be a number of seconds > 0; got {value!r}.")
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            raise OptionError(f"max_retries must be a whole number >= 0; got {self.max_retries!r}.")
        if self.max_retries < 0:
            raise OptionError(f"max_retries must be a whole number >= 0; got {self.max_retries}.")
        if not isinstance(self.backoff, int | float) or self.backoff < 0:
            raise OptionError(f"backoff must be a number of seconds >= 0; got {self.backoff!r}.")
        if self.thinking_style is not None and self.thinking_style not in THINKING_STYLES:
            raise OptionError(
                f"thinking_style must be one of {', '.join(THINKING_STYLES)} (or None to pick "
                f"per gateway); got {self.thinking_style!r}."
            )
        if not isinstance(self.max_event_bytes, int) or self.max_event_bytes < 1024:
            raise OptionError(
                f"max_event_bytes must be a whole number >= 1024; got {self.max_event_bytes!r}."
            )

    @classmethod
    def resolve(
        cls,
        config: Mapping[str, Any] | None = None,
        *,
        offline_fallback: bool = True,
        **arguments: Any,
    ) -> Settings:
        """Settings from `arguments` > `config` (default: ``%config Gemini.*``) > environment
        (``GEMINI_*``, and ``IPYGEMINI_LOG=off``) >
        the offline rule. Arguments and config values that are None count as unset.

        With ``offline_fallback=False`` (what a bare `Client()` uses) nothing configured means
        Google's endpoint without a key: `MissingKeyError`, not the offline gateway."""
        known = {f.name for f in fields(cls)}
        unknown = set(arguments) - known
        if unknown:
            raise OptionError(
                f"unknown setting(s): {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(known - {'offline'}))}."
            )
        if config is None:
            config = ipython_config()
        values: dict[str, Any] = {}
        for name, env in ENVIRONMENT.items():
            if os.environ.get(env):
                values[name] = os.environ[env]
        log_switch = os.environ.get("IPYGEMINI_LOG", "").strip().lower()
        if log_switch:  # IPYGEMINI_LOG=off (or 0, false, no) turns the exchange log off
            values["log"] = log_switch not in ("off", "0", "false", "no")
        values.update({k: v for k, v in config.items() if k in known and v is not None})
        values.update({k: v for k, v in arguments.items() if v is not None})
        if offline_fallback and not values.get("api_key") and not values.get("base_url"):
            from .gateway import _offline

            gateway = _offline.gateway()
            _offline.notice_once()
            values.update(api_key=gateway.api_key, base_url=gateway.base_url, offline=True)
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        """A copy with `changes` (validated again)."""
        return replace(self, **changes)

    @property
    def api_key_hint(self) -> str:
        """The key as it may be shown (``…abcd``)."""
        return mask_key(self.api_key)

    @property
    def host(self) -> str:
        """The gateway's host (and port), as shown in footers and errors."""
        return urlsplit(self.base_url).netloc


def ipython_config() -> Mapping[str, Any]:
    """The ``Gemini`` section of the running IPython's config (``%config Gemini.x = ...``), or
    nothing outside IPython. IPython is only looked up, never imported."""
    ipython_module = sys.modules.get("IPython")
    if ipython_module is None:
        return {}
    shell = ipython_module.get_ipython()
    if shell is None:
        return {}
    section = shell.config.get("Gemini")
    return dict(section) if section else {}
