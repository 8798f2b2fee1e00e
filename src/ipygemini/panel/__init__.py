"""ChatPanel: a chat widget (anywidget) that streams on the kernel's event loop without blocking it."""

from ._fix_choice import FixChoice, offer_fix
from ._pacer import Pacer
from ._widget import ChatPanel

__all__ = ["ChatPanel", "FixChoice", "Pacer", "offer_fix"]
