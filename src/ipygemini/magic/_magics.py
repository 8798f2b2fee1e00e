"""`GeminiMagics`: the ``%%gemini`` / ``%gemini`` entry point over one `Session`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from IPython.core.magic import Magics, line_cell_magic, magics_class

from ._cell import CellMagic
from ._commands import LineCommands
from ._session import Session

if TYPE_CHECKING:
    from ..client import Client
    from ..tools._context import CellLog
    from ._config import Gemini

__all__ = ["GeminiMagics"]


@magics_class
class GeminiMagics(CellMagic, LineCommands, Magics):
    """``%%gemini`` (ask) and ``%gemini`` (models, config, login, reset, history, offline, panel)."""

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self.session = Session(shell)
        self.cell_log: CellLog | None = None  # installed by %load_ext

    @property
    def settings(self) -> Gemini:
        """The ``Gemini`` configurable (``%config Gemini.*``)."""
        return self.session.config

    def client(self) -> Client:
        """The client for the current settings (made again when they change)."""
        return self.session.client()

    def close(self) -> None:
        """Close the client (``%unload_ext``)."""
        self.session.close()

    @line_cell_magic
    def gemini(self, line: str, cell: str | None = None) -> Any:
        """``%%gemini [options]`` then the prompt: ask Gemini (``%%gemini --help`` for options).

        ``%gemini models | config [KEY=VALUE] | login | reset [NAME] | history [NAME] |
        offline [off] | panel [NAME] | help``: the line commands.
        """
        if cell is None:
            return self.gemini_line(line)
        return self.gemini_cell(line, cell)
