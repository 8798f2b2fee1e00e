"""``python -m ipygemini "prompt"``: stream one answer in the terminal."""

# With GEMINI_API_KEY set it talks to the configured gateway; without a key it starts the
# built-in offline FakeGateway so a first run works on any machine, and says so.

from __future__ import annotations

import argparse
import sys
import time
from contextlib import ExitStack

from ._errors import GeminiError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ipygemini", description=__doc__)
    parser.add_argument("prompt", nargs="*", help="what to ask (default: a short greeting)")
    parser.add_argument(
        "-m", "--model", help="model name (default: GEMINI_MODEL or gemini-2.5-flash)"
    )
    parser.add_argument(
        "--thinking", choices=["low", "medium", "high"], help="ask the model to think first"
    )
    parser.add_argument(
        "--offline",
        action="store_true",
        help="use the built-in offline gateway even if a key is set",
    )
    args = parser.parse_args(argv)
    prompt = " ".join(args.prompt) or "Say hello and tell me what you can do in a notebook."

    from .client import Client
    from .gateway import _offline
    from .render import footer_bundle

    def footer(reply: object, model: str) -> None:
        """The footer every front end shows: model · tokens · seconds · how it ended · offline."""
        bundle = footer_bundle(
            reply,  # type: ignore[arg-type]
            model=model,
            seconds=time.perf_counter() - started,
            offline=offline,
        )
        print("\n\n" + bundle["text/plain"], file=sys.stderr)

    started = time.perf_counter()
    stream = None
    with ExitStack() as stack:
        key: str | None = None
        url: str | None = None
        offline = args.offline or _offline.nothing_configured()
        if offline:
            gw = _offline.gateway()
            _offline.notice_once("cli")
            key, url = gw.api_key, gw.base_url
        try:
            client = stack.enter_context(Client(api_key=key, base_url=url, model=args.model))
            stream = client.stream(prompt, thinking=args.thinking)
            with stream:
                in_thought = False
                for event in stream:
                    if event.type == "reasoning":
                        if not in_thought:
                            print("[thinking] ", end="", file=sys.stderr)
                            in_thought = True
                        print(event.text, end="", file=sys.stderr, flush=True)
                    elif event.type == "text":
                        if in_thought:
                            print("\n", file=sys.stderr)
                            in_thought = False
                        print(event.text, end="", flush=True)
                    elif event.type == "image":
                        print(f"\n[image: {event.image!r}]", flush=True)
            footer(stream.reply, client.model)
        except GeminiError as exc:
            print(f"\nerror: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            if stream is not None:  # what the stop flushed, then the footer saying "interrupted"
                for event in stream.interrupted():
                    if event.type == "text":
                        print(event.text, end="", flush=True)
                footer(stream.reply, client.model)
            return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
