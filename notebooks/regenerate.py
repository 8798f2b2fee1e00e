"""Re-execute the tutorials and save them with their new outputs.

    python notebooks/regenerate.py                  # every notebook
    python notebooks/regenerate.py 02 04-image...   # some (number, name or path)

Runs exactly as ``pytest --nbval notebooks/`` does (see conftest.py): the same local
FakeGateway and test key in the environment, a kernel of this interpreter, the notebook's
folder as working directory. A notebook is saved only if every cell ran; cells tagged
``raises-exception`` may fail, as under nbval. Afterwards ``pytest --nbval notebooks/`` passes.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent


def _conftest() -> ModuleType:
    """notebooks/conftest.py, loaded under its own name (``conftest`` may be another one)."""
    spec = importlib.util.spec_from_file_location(
        "ipygemini_notebooks_conftest", HERE / "conftest.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def notebooks(names: list[str] | None = None) -> list[Path]:
    """The tutorial notebooks, in order; `names` selects by number, name or path."""
    every = sorted(HERE.glob("[0-9][0-9]-*.ipynb"))
    if not names:
        return every
    chosen = []
    for name in names:
        path = Path(name)
        if path.suffix == ".ipynb" and path.exists():
            chosen.append(path.resolve())
            continue
        stem = path.name.removesuffix(".ipynb")
        found = [p for p in every if p.stem == stem or p.stem.startswith(stem + "-")]
        if len(found) != 1:
            known = ", ".join(p.stem for p in every)
            raise SystemExit(
                f"regenerate.py: no single notebook matches {name!r} (notebooks: {known})"
            )
        chosen.extend(found)
    return chosen


def execute(path: Path, *, timeout: float = 300) -> Any:
    """Run `path` top to bottom in a fresh kernel of this interpreter; the executed notebook.

    Uses the environment as it is: call it inside ``start_environment()`` for the stored
    outputs, or with another environment (no key at all: the first-run path).
    """
    import nbformat
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbval.kernel import CURRENT_ENV_KERNEL_NAME, NbvalKernelspecManager

    nb = nbformat.read(path, as_version=4)
    manager = KernelManager(
        kernel_name=CURRENT_ENV_KERNEL_NAME, kernel_spec_manager=NbvalKernelspecManager()
    )
    client = NotebookClient(
        nb,
        km=manager,
        timeout=timeout,
        record_timing=False,  # no timestamps in the cell metadata: quiet diffs
        store_widget_state=False,  # the chat panel's widget state is live-only
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python notebooks/regenerate.py",
        description="Re-execute tutorial notebooks against the local FakeGateway and save them.",
    )
    parser.add_argument("names", nargs="*", help="notebooks to run (default: all)")
    args = parser.parse_args(argv)
    paths = notebooks(args.names)

    import nbformat
    from nbclient.exceptions import CellExecutionError

    conftest = _conftest()
    conftest.start_environment()
    failed = 0
    try:
        for path in paths:
            started = time.perf_counter()
            try:
                nb = execute(path)
            except CellExecutionError as exc:
                failed += 1
                print(f"FAILED {path.name}: not saved\n{exc}", file=sys.stderr)
                continue
            nbformat.validate(nb)
            nbformat.write(nb, path)
            print(f"saved  {path.name}  ({time.perf_counter() - started:.1f} s)")
    finally:
        conftest.stop_environment()
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
