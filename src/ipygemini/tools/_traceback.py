"""The traceback a model is shown: only the user's frames (cells and the user's own files).

IPython's, ipykernel's and ipygemini's frames, the standard library's and installed packages'
say nothing about the user's error and carry local install paths, so they are left out: a
SyntaxError shows only the cell line and its caret, an error raised inside ``%%gemini`` only
its message. A cell's temporary file (``/tmp/ipykernel_123/456.py``) is shown as ``<cell>``;
the user's own files relative to the working directory (else by name).
"""

from __future__ import annotations

import os
import re
import sysconfig
import traceback
from functools import cache
from pathlib import Path

__all__ = ["is_cell_file", "user_traceback"]

_CELL_FILE = re.compile(r"[/\\]ipykernel_\d+[/\\]\d+\.py$|^<ipython-input-[\w-]+>$")
_CELL_FILE_QUOTED = re.compile(r'"[^"\n]*[/\\]ipykernel_\d+[/\\]\d+\.py"')
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_MAGIC_CALL = re.compile(r"^\s*get_ipython\(\)\.")


def is_cell_file(filename: str) -> bool:
    """True for the file IPython compiles a cell under."""
    return bool(_CELL_FILE.search(filename))


@cache
def _machinery() -> tuple[str, ...]:
    """Folders whose frames are never the user's: Python's own, installed packages, and the
    front ends' packages (ipygemini may be installed in place, outside site-packages)."""
    folders = {sysconfig.get_path(name) for name in ("stdlib", "platstdlib", "purelib", "platlib")}
    for module in ("IPython", "ipykernel", "traitlets", "ipygemini"):
        try:
            spec = __import__(module)
        except ImportError:
            continue
        folders.add(str(Path(spec.__file__ or "").parent))
    return tuple(sorted(os.path.realpath(f) + os.sep for f in folders if f))


def _users(frame: traceback.FrameSummary) -> bool:
    name = frame.filename
    if is_cell_file(name):
        return not _MAGIC_CALL.match(frame.line or "")  # the cell calling a magic: machinery
    if name.startswith("<"):  # <frozen ...>, <string>
        return False
    return not os.path.realpath(name).startswith(_machinery())


def _shown(filename: str) -> str:
    if is_cell_file(filename):
        return "<cell>"
    path = Path(os.path.realpath(filename))
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return path.name


def _keep_users_frames(exception: traceback.TracebackException) -> None:
    seen: set[int] = set()
    pending = [exception]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        frames = list(current.stack)
        cells = [i for i, f in enumerate(frames) if is_cell_file(f.filename)]
        if cells:  # what called the first cell (IPython running it) is never the user's
            frames = frames[cells[0] :]
        frames = [f for f in frames if _users(f)]
        for frame in frames:
            frame.filename = _shown(frame.filename)
        current.stack = traceback.StackSummary.from_list(frames)
        if getattr(current, "filename", None):  # a SyntaxError's own location
            current.filename = _shown(current.filename)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)


def user_traceback(error: BaseException) -> str:
    """`error`'s traceback as plain text with only the user's frames (see the module)."""
    exception = traceback.TracebackException.from_exception(error)
    _keep_users_frames(exception)
    text = "".join(exception.format())
    return _CELL_FILE_QUOTED.sub('"<cell>"', _ANSI.sub("", text))
