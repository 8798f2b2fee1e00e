"""Run the fake gateway standalone: ``python -m ipygemini.testing --port 8765``."""

from __future__ import annotations

import sys

from ..gateway.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
