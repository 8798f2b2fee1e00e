"""The ``%%gemini`` options: the argument parser, option validation and prompt interpolation."""

from __future__ import annotations

import argparse
import re
from typing import Any, NoReturn

from IPython.core.error import UsageError

from .._errors import GeminiError
from ._config import FORMATS

__all__ = [
    "PLACEHOLDER",
    "Parser",
    "PromptError",
    "build_parser",
    "interpolate",
    "request_options",
    "resolve_placeholder",
    "usage_error",
]

_OPTION_FOR = {
    "temperature": "-t/--temperature",
    "top_p": "--top-p",
    "max_tokens": "--max-tokens",
    "n": "-n",
    "stop": "--stop",
    "thinking": "--thinking",
    "model": "-m/--model",
}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
PLACEHOLDER = re.compile(
    r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*|\[-?\d+\])*)\}"
)
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(-?\d+)\]")
_ASPECT = re.compile(r"\d{1,2}:\d{1,2}")
_IMAGE_SIZE = re.compile(r"\d{1,2}[Kk]")


class PromptError(GeminiError):
    """The prompt or an option names something the notebook does not have."""


# --- prompt interpolation ------------------------------------------------------------------------


def interpolate(template: str, namespace: dict[str, Any]) -> str:
    """Fill ``{name}``, ``{name.attr}``, ``{In[3]}``, ``{Out[3]}`` from `namespace`, once.

    ``{{`` and ``}}`` are literal braces; braces around anything else (code, JSON) are left as
    they are. Inserted values are never scanned again, so a value containing ``{x}`` stays.
    """

    def fill(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        return str(resolve_placeholder(match.group(1), namespace))

    return PLACEHOLDER.sub(fill, template)


def resolve_placeholder(expr: str, namespace: dict[str, Any]) -> Any:
    head = _NAME.match(expr)
    assert head is not None
    name = head.group(0)
    if name not in namespace:
        raise PromptError(
            f"no variable {name!r} in the notebook (write {{{{{expr}}}}} for a literal {{{expr}}})."
        )
    value = namespace[name]
    done = name
    for step in _STEP.finditer(expr, head.end()):
        attr, index = step.group(1), step.group(2)
        if attr is not None:
            try:
                value = getattr(value, attr)
            except AttributeError:
                raise PromptError(
                    f"{{{done}.{attr}}}: {type(value).__name__} has no attribute {attr!r}."
                ) from None
            done = f"{done}.{attr}"
            continue
        i = int(index)
        try:
            value = value[i]
        except (KeyError, IndexError):
            if name == "Out" and done == "Out":
                raise PromptError(
                    f"{{Out[{i}]}}: cell {i} has not run or returned nothing (Out has no {i})."
                ) from None
            if name == "In" and done == "In":
                raise PromptError(
                    f"{{In[{i}]}}: there is no cell {i} yet ({len(value) - 1} cells have run)."
                ) from None
            raise PromptError(f"{{{done}[{i}]}}: index {i} does not exist.") from None
        except TypeError:
            raise PromptError(
                f"{{{done}[{i}]}}: {type(value).__name__} cannot be indexed."
            ) from None
        done = f"{done}[{i}]"
    return value


# --- argument parsing --------------------------------------------------------------------------------


class Parser(argparse.ArgumentParser):
    """argparse that reports bad options as a one-line `UsageError` instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"%%gemini: {message} (see %gemini --help)")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise UsageError(message or "%%gemini: invalid options")


def _identifier(value: str) -> str:
    if not value.isidentifier():
        raise argparse.ArgumentTypeError(f"{value!r} is not a valid Python name")
    return value


def build_parser() -> Parser:
    p = Parser(
        prog="%%gemini",
        add_help=False,
        exit_on_error=False,
        usage="%%gemini [options]\n<prompt: the rest of the cell>",
        description=(
            "Ask Gemini; the cell body is the prompt. {name}, {name.attr}, {In[3]} and {Out[3]} "
            "insert notebook values; {{ and }} are literal braces. The answer streams as safe "
            "Markdown; the Reply is kept in _gemini."
        ),
        epilog=(
            "Line commands: %gemini models | config [KEY=VALUE] | login | reset [NAME] | "
            "history [NAME] | offline [off] | panel [NAME] | mcp [stop [NAME]] | fix [--explain] | help. "
            "Settings: %config Gemini.model = '...'."
        ),
    )
    p.add_argument("-h", "--help", action="store_true", help="show this help and do nothing")
    p.add_argument("-m", "--model", help="model name (default: Gemini.model / $GEMINI_MODEL)")
    p.add_argument("-s", "--system", help="system prompt")
    p.add_argument("-t", "--temperature", type=float, help="sampling temperature, 0-2")
    p.add_argument("--top-p", type=float, dest="top_p", help="nucleus sampling, 0-1")
    p.add_argument("--max-tokens", type=int, dest="max_tokens", help="longest answer in tokens")
    p.add_argument(
        "--stop", action="append", metavar="TEXT", help="stop at TEXT (repeat for up to 4)"
    )
    p.add_argument("-n", type=int, help="number of answers")
    p.add_argument(
        "--json", action="store_true", help="JSON mode: the parsed answer is the cell's result"
    )
    p.add_argument(
        "--thinking",
        nargs="?",
        const="on",
        metavar="low|medium|high|BUDGET",
        help="let the model think first (shown folded); 'off' to switch it off",
    )
    p.add_argument("--no-stream", action="store_true", help="wait for the whole answer")
    p.add_argument(
        "--cache", action="store_true", help="answer from the log if asked before (no request)"
    )
    p.add_argument(
        "--refresh", action="store_true", help="ask again even if cached; store the new answer"
    )
    p.add_argument(
        "-o", "--output", type=_identifier, metavar="NAME", help="also keep the Reply in NAME"
    )
    p.add_argument(
        "-c",
        "--chat",
        nargs="?",
        const="default",
        metavar="NAME",
        help="continue the conversation NAME (default: 'default')",
    )
    p.add_argument(
        "-a",
        "--attach",
        nargs="+",
        action="extend",
        metavar="NAME",
        type=_identifier,
        help="attach notebook variables (bytes, paths, URLs, images, replies)",
    )
    p.add_argument(
        "-f",
        "--format",
        choices=FORMATS,
        help="markdown (default), text, code (code goes into a new cell), json",
    )
    p.add_argument(
        "--tools",
        nargs="+",
        action="extend",
        metavar="NAME",
        type=_identifier,
        help="notebook functions the model may call (they run in the kernel)",
    )
    p.add_argument(
        "--mcp",
        action="append",
        metavar="SERVER",
        help="an MCP server's tools: a command line ('mcp-server-git --repository .') or a "
        "name from Gemini.mcp_servers (repeatable)",
    )
    p.add_argument(
        "--mcp-allow",
        dest="mcp_allow",
        nargs="+",
        action="extend",
        metavar="NAME",
        help="MCP tools that may run although not read-only (e.g. git_commit)",
    )
    p.add_argument(
        "--context",
        metavar="N|all",
        help="send the last N cells run (or all, within ~20 KB); default: Gemini.context",
    )
    p.add_argument(
        "--vars",
        action="store_true",
        help="send a summary of the notebook's variables (secret-looking names withheld)",
    )
    p.add_argument(
        "--schema", type=_identifier, metavar="NAME", help="answer as data: a model/TypedDict/dict"
    )
    p.add_argument(
        "--each", type=_identifier, metavar="DF", help="ask once per row of DF ({column}, {index})"
    )
    p.add_argument("--max-rpm", type=float, dest="max_rpm", help="--each: requests per minute cap")
    p.add_argument("--concurrency", type=int, help="--each: requests at once (default 16)")
    p.add_argument("--aspect-ratio", dest="aspect_ratio", help="image models: e.g. 16:9")
    p.add_argument("--image-size", dest="image_size", help="image models: 1K, 2K or 4K")
    return p


def _thinking(value: str | None) -> bool | int | str | None:
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered in ("on", "true", "yes", "auto"):
        return True
    if lowered in ("off", "false", "no", "none"):
        return False
    if lowered in ("low", "medium", "high"):
        return lowered
    try:
        return int(lowered)
    except ValueError:
        raise UsageError(
            f"%%gemini: --thinking takes low, medium, high, off or a token budget; got {value!r}"
        ) from None


def usage_error(exc: ValueError) -> UsageError:
    """An option's validation error (`OptionError`) in the words of the option that was typed."""
    message = str(exc)
    for param, option in _OPTION_FOR.items():
        if message.startswith(param + " ") or message.startswith(param + ":"):
            return UsageError(f"%%gemini {option}: {message}")
    return UsageError(f"%%gemini: {message}")


def request_options(args: argparse.Namespace, thinking_style: str | None) -> dict[str, Any]:
    """The chat options the parsed arguments ask for, validated before anything is sent."""
    from ..client._request import validate_options

    thinking = _thinking(args.thinking)
    options: dict[str, Any] = {
        "model": args.model,
        "temperature": args.temperature,
        "top_p": args.top_p,
        "max_tokens": args.max_tokens,
        "n": args.n,
        "stop": args.stop,
        "thinking": thinking,
    }
    try:
        validate_options(
            temperature=args.temperature,
            top_p=args.top_p,
            max_tokens=args.max_tokens,
            n=args.n,
            stop=args.stop,
            thinking=thinking,
        )
    except ValueError as exc:  # this call only validates options: every error is a usage error
        raise usage_error(exc) from None
    if args.model is not None and not args.model.strip():
        raise UsageError("%%gemini -m/--model: the model name is empty")
    if args.stop is not None and len(args.stop) == 1:
        options["stop"] = args.stop[0]
    if args.json:
        options["json"] = True
    options.update(source="magic", conversation=args.chat)
    if args.cache:
        options["cache"] = True
    if args.refresh:
        options["refresh"] = True
    image_config: dict[str, str] = {}
    if args.aspect_ratio is not None:
        if not _ASPECT.fullmatch(args.aspect_ratio):
            raise UsageError(
                f"%%gemini --aspect-ratio: write it as W:H, such as 16:9; got {args.aspect_ratio!r}"
            )
        image_config["aspect_ratio"] = args.aspect_ratio
    if args.image_size is not None:
        if not _IMAGE_SIZE.fullmatch(args.image_size):
            raise UsageError(f"%%gemini --image-size: use 1K, 2K or 4K; got {args.image_size!r}")
        image_config["image_size"] = args.image_size.upper()
    if image_config:
        # `extra_body` holds extra top-level fields (as in the OpenAI SDK); Gemini gateways
        # read image options from a literal "extra_body": {"google": ...} field in the JSON.
        if thinking_style == "openrouter":
            options["extra_body"] = {"image_config": image_config}
        else:
            options["extra_body"] = {"extra_body": {"google": {"image_config": image_config}}}
    return {k: v for k, v in options.items() if v is not None}
