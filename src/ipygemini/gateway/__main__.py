"""Run the fake gateway standalone: ``python -m ipygemini.testing --port 8765``."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from ._directives import IMAGE_SHAPES, REASONING_SHAPES, TOOL_FINISH_REASONS
from ._gateway import FakeGateway


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ipygemini.testing",
        description="Serve a fake OpenAI-compatible Gemini gateway on loopback until Ctrl-C.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="TCP port (0 = any free port)")
    parser.add_argument("--api-key", default="fake-key", help="the key clients must send")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between stream chunks")
    parser.add_argument("--chunk-chars", type=int, default=12, help="characters per chunk")
    parser.add_argument("--image-shape", choices=IMAGE_SHAPES, default="markdown")
    parser.add_argument("--reasoning-shape", choices=REASONING_SHAPES, default="reasoning_content")
    parser.add_argument("--model-prefix", default="", help='e.g. "models/"')
    parser.add_argument(
        "--rate-limit",
        type=float,
        default=None,
        help="at most this many requests per --rate-window seconds, then 429 (default: no limit)",
    )
    parser.add_argument(
        "--rate-window", type=float, default=1.0, help="rate-limit window in seconds (default 1)"
    )
    parser.add_argument(
        "--no-retry-after", action="store_true", help="rate-limit 429s without a Retry-After header"
    )
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds before the first byte of chat answers"
    )
    parser.add_argument(
        "--max-body-bytes", type=int, default=None, help="larger request bodies get a 413"
    )
    parser.add_argument(
        "--no-json-schema",
        action="store_true",
        help="refuse response_format json_schema with a 400 (json_object still works)",
    )
    parser.add_argument(
        "--tool-finish",
        choices=TOOL_FINISH_REASONS,
        default="stop",
        help="finish_reason of answers with tool calls (default stop, as Gemini gateways send)",
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)  # stop cleanly on `kill` too, not only Ctrl-C
    try:
        gateway = FakeGateway(
            api_key=args.api_key,
            host=args.host,
            port=args.port,
            chunk_chars=args.chunk_chars,
            delay=args.delay,
            image_shape=args.image_shape,
            reasoning_shape=args.reasoning_shape,
            model_prefix=args.model_prefix,
            rate_limit=args.rate_limit,
            rate_window=args.rate_window,
            rate_limit_retry_after=not args.no_retry_after,
            latency=args.latency,
            max_body_bytes=args.max_body_bytes,
            no_json_schema=args.no_json_schema,
            tool_finish=args.tool_finish,
        ).start()
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    forever = threading.Event()
    try:
        print(f"FakeGateway serving at {gateway.base_url}")
        print(f"  base URL: {gateway.base_url}")
        print(f"  API key:  {gateway.api_key}")
        print("Press Ctrl-C to stop.", flush=True)
        while not forever.wait(3600):
            pass
    except KeyboardInterrupt:
        print("\nstopping")
    finally:
        gateway.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
