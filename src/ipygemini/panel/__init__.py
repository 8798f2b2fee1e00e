"""ChatPanel: a chat widget that streams on the kernel's event loop without blocking it."""

from ._panel import ChatPanel, Pacer

__all__ = ["ChatPanel", "Pacer"]
