"""The ``Gemini`` configurable: the magics' settings as traitlets (``%config Gemini.*``)."""

# Set them with ``%config Gemini.model = "gemini-2.5-pro"``, ``%gemini config model=...`` or in
# ``ipython_config.py`` (``c.Gemini.model = ...``). The API key is deliberately not a setting:
# config files and ``%config`` output end up in notebooks and repositories.

from __future__ import annotations

from typing import Any

from traitlets import Bool, CFloat, CInt, Dict, Enum, TraitError, Unicode, validate
from traitlets.config import Configurable

from .._settings import THINKING_STYLES

__all__ = ["FORMATS", "Gemini"]

FORMATS = ("markdown", "text", "code", "json")


class Gemini(Configurable):
    """Settings of the %%gemini magic. Unset (None) values fall back to the environment."""

    model = Unicode(
        None,
        allow_none=True,
        help="Model to use; default: $GEMINI_MODEL, else gemini-2.5-flash.",
    ).tag(config=True)
    base_url = Unicode(
        None,
        allow_none=True,
        help="OpenAI-compatible base URL; default: $GEMINI_BASE_URL, else Google's endpoint.",
    ).tag(config=True)
    system = Unicode(
        None, allow_none=True, help="System prompt used when a cell gives none (-s)."
    ).tag(config=True)
    format = Enum(FORMATS, "markdown", help="How answers are shown (-f).").tag(config=True)
    stream = Bool(True, help="Stream answers live (False: like --no-stream).").tag(config=True)
    thinking_style = Enum(
        THINKING_STYLES,
        None,
        allow_none=True,
        help="How --thinking is sent: google, reasoning_effort, enable_thinking or openrouter; "
        "None (the default) picks one per gateway.",
    ).tag(config=True)
    timeout = CFloat(60.0, help="Seconds to wait for a non-streamed answer.").tag(config=True)
    idle_timeout = CFloat(120.0, help="Seconds without a byte before a stream is given up.").tag(
        config=True
    )
    max_retries = CInt(2, help="Retries for 429/5xx/connection errors before any byte.").tag(
        config=True
    )
    allow_insecure = Bool(
        False, help="Allow sending the key over plain http to a non-loopback host."
    ).tag(config=True)
    log = Bool(
        None, allow_none=True, help="Write every exchange to the log (default on; $IPYGEMINI_LOG)."
    ).tag(config=True)
    cache = Bool(
        None, allow_none=True, help="Answer identical requests from the log (like --cache)."
    ).tag(config=True)
    prices = Dict(
        help="Prices overriding the shipped table, dollars per million tokens: "
        "{'gemini-2.5-flash': {'input': 0.3, 'output': 2.5}}."
    ).tag(config=True)
    context = Unicode(
        None,
        allow_none=True,
        help="Cells sent as context by default (--context): a number or 'all'; None: none.",
    ).tag(config=True)
    updates_per_second = CFloat(
        20.0, help="At most this many live updates of an answer per second (1-60)."
    ).tag(config=True)

    @validate("context")
    def _check_context(self, proposal: Any) -> str | None:
        value = proposal["value"]
        if (
            value is None
            or str(value).strip().lower() in ("all", "none", "off")
            or (str(value).strip().isdigit())
        ):
            return None if value is None else str(value).strip().lower()
        raise TraitError(f"context must be a number of cells, 'all' or none; got {value!r}")

    @validate("updates_per_second")
    def _check_rate(self, proposal: Any) -> float:
        value = float(proposal["value"])
        if not 1 <= value <= 60:
            raise TraitError(f"updates_per_second must be between 1 and 60; got {value:g}")
        return value

    @validate("timeout", "idle_timeout")
    def _check_positive(self, proposal: Any) -> float:
        value = float(proposal["value"])
        if value <= 0:
            raise TraitError(f"{proposal['trait'].name} must be > 0 seconds; got {value:g}")
        return value

    @validate("max_retries")
    def _check_retries(self, proposal: Any) -> int:
        value = int(proposal["value"])
        if value < 0:
            raise TraitError(f"max_retries must be >= 0; got {value}")
        return value

    @validate("prices")
    def _check_prices(self, proposal: Any) -> dict[str, Any]:
        from ..log._prices import price_for

        value = dict(proposal["value"])
        for model in value:
            try:
                price_for(model, {model: value[model]})
            except (ValueError, TypeError, AttributeError) as exc:
                raise TraitError(str(exc)) from None
        return value

    def settable(self) -> list[str]:
        """Names that ``%gemini config KEY=VALUE`` accepts."""
        return sorted(self.trait_names(config=True))

    def set_from_string(self, name: str, value: str) -> Any:
        """Set one setting from its text form (as typed after ``%gemini config``)."""
        trait = self.traits(config=True).get(name)
        if trait is None:
            raise KeyError(name)
        text = value.strip()
        if text.lower() in ("none", "") and trait.allow_none:
            parsed: Any = None
        elif isinstance(trait, Bool):
            lowered = text.lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
                raise ValueError(f"{name} must be true or false, not {value!r}")
            parsed = lowered in ("true", "1", "yes", "on")
        else:
            parsed = trait.from_string(text)
        setattr(self, name, parsed)
        return getattr(self, name)
