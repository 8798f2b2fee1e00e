"""``python -m ipygemini "prompt"``: stream one answer in the terminal."""

# With GEMINI_API_KEY set it talks to the configured gateway; without a key (`Settings`' offline
# rule) the built-in offline gateway answers, so a first run works on any machine, and says so.
# The answer is shown by the terminal renderer (render/_terminal.py), as in terminal IPython.

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

    from ._connect import connect
    from ._settings import nothing_configured
    from .gateway._offline import notice_once
    from .render import footer_bundle
    from .render._terminal import TerminalStream

    def footer(reply: object, model: str) -> None:
        """The footer every front end shows: model · tokens · seconds · how it ended · offline."""
        bundle = footer_bundle(
            reply,  # type: ignore[arg-type]
            model=model,
            seconds=time.perf_counter() - started,
            offline=settings.offline,
        )
        print("\n\n" + bundle["text/plain"], file=sys.stderr)

    started = time.perf_counter()
    stream = None
    view = TerminalStream(sys.stdout)
    with ExitStack() as stack:
        try:
            if args.offline or nothing_configured({}):
                notice_once("cli")  # before Settings starts the gateway: the advice for a shell
            client = stack.enter_context(
                connect(config={}, offline=args.offline or None, model=args.model)
            )
            settings = client.settings
            stream = client.stream(prompt, thinking=args.thinking)
            with stream:
                for event in stream:
                    view.feed(event)
            view.close()
            footer(stream.reply, client.model)
        except GeminiError as exc:
            view.close()
            print(f"\nerror: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            if stream is not None:  # what the stop flushed, then the footer saying "interrupted"
                for event in stream.interrupted():
                    view.feed(event)
                view.close()
                footer(stream.reply, client.model)
            return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
