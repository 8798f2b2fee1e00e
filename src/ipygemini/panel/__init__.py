"""ChatPanel: a chat widget (anywidget) that streams on the kernel's event loop without blocking it."""

from ._pacer import Pacer
from ._widget import ChatPanel

__all__ = ["ChatPanel", "Pacer"]
