"""ipygemini: Gemini in Jupyter — the %%gemini magic, a chat panel and a small client.

Importing this package is cheap: the client (and httpx) load on first use, so
``%load_ext ipygemini`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._connect import connect, connect_async
from ._errors import (
    APIStatusError,
    AttachmentError,
    AuthenticationError,
    BadRequestError,
    ConnectionError,
    GeminiError,
    InsecureURLError,
    MissingKeyError,
    NotFoundError,
    OptionError,
    RateLimitError,
    RedirectError,
    ServerError,
    StreamError,
    TimeoutError,
)
from ._settings import Settings, use_offline_gateway
from ._types import (
    Choice,
    Event,
    FinishEvent,
    GeneratedImage,
    ImageEvent,
    Model,
    ReasoningDelta,
    Reply,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    Usage,
    UsageEvent,
)
from ._version import __version__

if TYPE_CHECKING:
    from .client import AsyncClient, AsyncStream, Client, Stream
    from .panel import ChatPanel
    from .tools import mcp_server


__all__ = [
    "APIStatusError",
    "AsyncClient",
    "AsyncStream",
    "AttachmentError",
    "AuthenticationError",
    "BadRequestError",
    "ChatPanel",
    "Choice",
    "Client",
    "ConnectionError",
    "Event",
    "FinishEvent",
    "GeminiError",
    "GeneratedImage",
    "ImageEvent",
    "InsecureURLError",
    "MissingKeyError",
    "Model",
    "NotFoundError",
    "OptionError",
    "RateLimitError",
    "ReasoningDelta",
    "RedirectError",
    "Reply",
    "ServerError",
    "Settings",
    "Stream",
    "StreamError",
    "TextDelta",
    "TimeoutError",
    "ToolCall",
    "ToolCallEvent",
    "Usage",
    "UsageEvent",
    "__version__",
    "connect",
    "connect_async",
    "mcp_server",
]

_LAZY = {"Client", "AsyncClient", "Stream", "AsyncStream"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import client as _client

        return getattr(_client, name)
    if name == "ChatPanel":  # imports ipywidgets: only when asked for
        from .panel import ChatPanel

        return ChatPanel
    if name == "mcp_server":  # MCP servers as tools (issue 19): the SDK loads only when used
        from .tools import mcp_server

        return mcp_server
    raise AttributeError(f"module 'ipygemini' has no attribute {name!r}")


def _offline_address() -> tuple[str, str]:
    """The built-in offline gateway's ``(api_key, base_url)``, started on first use."""
    from .gateway._offline import address

    return address()


use_offline_gateway(_offline_address)  # Settings decides when; the gateway is imported only then


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext ipygemini``: register the %%gemini and %gemini magics."""
    from .magic import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from .magic import unload_ipython_extension as unload

    unload(ipython)
