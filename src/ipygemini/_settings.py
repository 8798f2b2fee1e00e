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
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields, replace
from typing import Any
from urllib.parse import urlsplit

from ._errors import InsecureURLError, MissingKeyError, OptionError
from ._masking import mask_key

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "THINKING_STYLES",
    "Settings",
    "client_options_source",
    "configurable_settings",
    "is_loopback",
    "mask_key",
    "nothing_configured",
    "setting_problem",
    "use_offline_gateway",
]

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/v1beta/openai/"
DEFAULT_MODEL = "gemini-2.5-flash"
THINKING_STYLES = ("google", "reasoning_effort", "enable_thinking", "openrouter")
"""How a gateway is told to think (PROTOCOL.md §2); None in `Settings` picks one per gateway."""

LOG_SWITCH = "IPYGEMINI_LOG"
"""``IPYGEMINI_LOG=off`` (or 0, false, no) turns the exchange log off."""

OfflineGateway = Callable[[], tuple[str, str]]
"""Starts (once) the built-in offline gateway and gives its ``(api_key, base_url)``."""

_offline_gateway: OfflineGateway | None = None


def use_offline_gateway(start: OfflineGateway) -> None:
    """Say where offline answers come from. The package's ``__init__`` wires the built-in
    gateway here, so that this module, below everything, imports no gateway: `Settings`
    decides *whether* a request is offline, the gateway only *where* it goes."""
    global _offline_gateway
    _offline_gateway = start


def setting(
    default: Any,
    help: str,
    *,
    env: str | None = None,
    configurable: bool = True,
    choices: tuple[str, ...] | None = None,
    repr: bool = True,
) -> Any:
    """One `Settings` field with what the other front ends generate from it: its help, the
    environment variable it falls back to, whether ``%config Gemini.NAME`` sets it, and its
    allowed values."""
    metadata = {"help": help, "env": env, "configurable": configurable, "choices": choices}
    return field(default=default, repr=repr, metadata=metadata)


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (where a key may travel over plain http)."""
    if host in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def without_userinfo(url: str) -> str:
    """`url` as it may be shown: any ``user:password@`` replaced by ``…@``."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@", r"\1…@", url.strip())


@dataclass(frozen=True, slots=True)
class Settings:
    """Where to send requests and how: one frozen value shared by every front end.

    Build it with `Settings.resolve(...)` (arguments > ``%config Gemini.*`` > environment >
    offline rule); the constructor takes the final values and only validates them. Each field
    is declared here once: the ``Gemini`` traits (``%config Gemini.*``) are generated from these
    fields and `ClientOptions` is checked against them.
    """

    api_key: str | None = setting(
        None, "The API key (never shown).", env="GEMINI_API_KEY", configurable=False, repr=False
    )
    base_url: str = setting(
        DEFAULT_BASE_URL,
        "OpenAI-compatible base URL (Google's endpoint by default).",
        env="GEMINI_BASE_URL",
    )
    model: str = setting(DEFAULT_MODEL, "Model to use.", env="GEMINI_MODEL")
    offline: bool = setting(
        False,
        "True when the built-in offline gateway answers (footers say offline).",
        configurable=False,
    )
    timeout: float = setting(
        60.0, "Seconds to wait for a non-streamed answer (and for a body to make progress)."
    )
    idle_timeout: float = setting(120.0, "Seconds without a byte before a stream is given up.")
    connect_timeout: float = setting(10.0, "Seconds to wait for a connection.")
    max_retries: int = setting(
        2, "Retries of 429/5xx/connection failures that happen before any byte of an answer."
    )
    backoff: float = setting(0.5, "Seconds before the first retry (doubling after).")
    thinking_style: str | None = setting(
        None,
        "How thinking is asked for: google, reasoning_effort, enable_thinking or openrouter; "
        "None picks one per gateway.",
        choices=THINKING_STYLES,
    )
    allow_insecure: bool = setting(
        False, "Allow sending the key over plain http to a host that is not loopback."
    )
    max_event_bytes: int = setting(
        64 * 1024 * 1024, "The largest server-sent event accepted, in bytes."
    )
    headers: Mapping[str, str] | None = setting(
        None, "Extra HTTP headers sent with every request.", configurable=False
    )
    log: bool = setting(True, "Write every exchange to the SQLite log.", env=LOG_SWITCH)
    cache: bool = setting(False, "Answer an identical request from the log instead of the network.")
    mcp_servers: Mapping[str, Mapping[str, Any]] | None = setting(
        None,
        "MCP servers by name, as other MCP clients write them (their mcpServers object): "
        "{'git': {'command': 'mcp-server-git', 'args': ['--repository', '.'], 'env': {}}}; "
        "then %%gemini --mcp git.",
    )

    def __post_init__(self) -> None:
        try:
            parts = urlsplit(self.base_url)
            parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
        except (ValueError, TypeError):
            parts = urlsplit("")
        shown = without_userinfo(self.base_url) if isinstance(self.base_url, str) else ""
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InsecureURLError(
                f"base_url must be an http(s) URL such as {DEFAULT_BASE_URL!r}; got {shown!r}."
            )
        if "@" in parts.netloc:
            raise InsecureURLError(
                f"base_url must not carry a user name or password ({shown}): give the gateway's "
                "address alone, and the key as api_key or GEMINI_API_KEY."
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
        for name in (*_CHECKS, "mcp_servers"):
            problem = setting_problem(name, getattr(self, name))
            if problem:
                raise OptionError(problem)

    @classmethod
    def resolve(
        cls,
        config: Mapping[str, Any] | None = None,
        *,
        offline_fallback: bool = True,
        **arguments: Any,
    ) -> Settings:
        """Settings from `arguments` > `config` (default: ``%config Gemini.*``) > environment
        (``GEMINI_*``, and ``IPYGEMINI_LOG=off``) > the offline rule. Arguments and config
        values that are None count as unset.

        The offline rule, decided here only: ``offline=True`` asks for the built-in offline
        gateway whatever is configured (``%gemini offline``, the CLI's ``--offline``); with
        nothing configured (no key, no base URL) it answers too, unless
        ``offline_fallback=False`` (what a bare `Client()` uses: then `MissingKeyError`)."""
        known = {f.name for f in fields(cls)}
        unknown = set(arguments) - known
        if unknown:
            raise OptionError(
                f"unknown setting(s): {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(known - {'offline'}))}."
            )
        if config is None:
            config = ipython_config()
        values: dict[str, Any] = environment_values()
        values.update({k: v for k, v in config.items() if k in known and v is not None})
        values.update({k: v for k, v in arguments.items() if v is not None})
        chosen = values.pop("offline", False)
        configured = values.get("api_key") or values.get("base_url")
        if chosen or (offline_fallback and not configured):
            values.update(zip(("api_key", "base_url"), _start_offline(), strict=True))
            values["offline"] = True
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        """A copy with `changes` (validated again)."""
        return replace(self, **changes)

    @property
    def api_key_hint(self) -> str:
        """The key as it may be shown (``…abcd``)."""
        return mask_key(self.api_key)

    @property
    def keeps_lessons(self) -> bool:
        """What gateways teach (request forms, batch rates) goes into the log file for new
        kernels, unless the client does not log or runs offline (then: this process only)."""
        return bool(self.log and not self.offline)

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


def environment_values() -> dict[str, Any]:
    """The settings the environment gives (``GEMINI_*``; ``IPYGEMINI_LOG`` as a switch)."""
    values: dict[str, Any] = {}
    for item in fields(Settings):
        env = item.metadata["env"]
        text = os.environ.get(env, "").strip() if env else ""
        if not text:
            continue
        values[item.name] = (
            text.lower() not in ("off", "0", "false", "no") if env == LOG_SWITCH else text
        )
    return values


def nothing_configured(config: Mapping[str, Any] | None = None) -> bool:
    """True when neither `config` (default: ``%config Gemini.*``) nor the environment names a
    key or a base URL: the offline rule's condition, as `%load_ext` announces it."""
    if config is None:
        config = ipython_config()
    values = {**environment_values(), **{k: v for k, v in config.items() if v is not None}}
    return not (values.get("api_key") or values.get("base_url"))


def _start_offline() -> tuple[str, str]:
    if _offline_gateway is None:  # only when ipygemini/__init__.py did not run: never in use
        raise MissingKeyError("No API key and no base URL, and no offline gateway to answer.")
    return _offline_gateway()


_Check = Callable[[Any], bool]

_SECONDS: _Check = lambda v: not isinstance(v, bool) and isinstance(v, int | float) and v > 0  # noqa: E731
_CHECKS: dict[str, tuple[_Check, str]] = {
    "timeout": (_SECONDS, "a number of seconds > 0"),
    "idle_timeout": (_SECONDS, "a number of seconds > 0"),
    "connect_timeout": (_SECONDS, "a number of seconds > 0"),
    "max_retries": (
        lambda v: not isinstance(v, bool) and isinstance(v, int) and v >= 0,
        "a whole number >= 0",
    ),
    "backoff": (
        lambda v: not isinstance(v, bool) and isinstance(v, int | float) and v >= 0,
        "a number of seconds >= 0",
    ),
    "thinking_style": (
        lambda v: v is None or v in THINKING_STYLES,
        f"one of {', '.join(THINKING_STYLES)} (or None to pick per gateway)",
    ),
    "max_event_bytes": (
        lambda v: not isinstance(v, bool) and isinstance(v, int) and v >= 1024,
        "a whole number >= 1024",
    ),
}


def mcp_servers_problem(value: Any) -> str | None:
    """Why `value` is not an ``mcpServers`` object (name -> command, args, env), or None."""
    if not isinstance(value, Mapping):
        return f"must map names to servers, got {type(value).__name__}"
    for name, server in value.items():
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]{0,31}", name):
            return f"name {name!r} must be letters, digits, _ or - (e.g. 'git')"
        if not isinstance(server, Mapping) or not isinstance(server.get("command"), str):
            return f"{name!r} needs a 'command' string (and optional 'args' list, 'env' dict)"
        unknown = set(server) - {"command", "args", "env", "allow", "timeout"}
        if unknown:
            return f"{name!r} has unknown key(s) {', '.join(sorted(map(str, unknown)))}"
        args = server.get("args", [])
        if not isinstance(args, list | tuple) or not all(isinstance(a, str) for a in args):
            return f"{name!r}: 'args' must be a list of strings"
        env = server.get("env", {})
        if not isinstance(env, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in env.items()
        ):
            return f"{name!r}: 'env' must map names to strings"
    return None


def setting_problem(name: str, value: Any) -> str | None:
    """Why `value` cannot be setting `name` (one line), or None. `Settings` and the
    ``Gemini`` traits both ask here, so a value means the same wherever it is set."""
    if name == "mcp_servers":
        problem = None if value is None else mcp_servers_problem(value)
        return None if problem is None else f"mcp_servers: {problem}."
    check = _CHECKS.get(name)
    if check is None or check[0](value):
        return None
    return f"{name} must be {check[1]}; got {value!r}."


def configurable_settings() -> list[Field[Any]]:
    """The `Settings` fields ``%config Gemini.*`` sets (all but the key, headers and offline)."""
    return [f for f in fields(Settings) if f.metadata["configurable"]]


def client_options_source() -> str:
    """The source of `ClientOptions` (client/_core.py), generated from the fields: every
    setting but `offline` (which follows from the others), each optional (None: unset)."""
    lines = [
        "class ClientOptions(TypedDict, total=False):",
        '    """Keyword settings of `Client` and `AsyncClient`: `Settings` fields, all optional',
        '    (generated by `ipygemini._settings.client_options_source`; None: unset)."""',
        "",
    ]
    for item in fields(Settings):
        if item.name == "offline":
            continue
        kind = str(item.type)
        lines.append(f"    {item.name}: {kind if kind.endswith('None') else kind + ' | None'}")
    return "\n".join(lines) + "\n"
