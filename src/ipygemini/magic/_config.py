"""The ``Gemini`` configurable: the magics' settings as traitlets (``%config Gemini.*``)."""

# Set them with ``%config Gemini.model = "gemini-2.5-pro"``, ``%gemini config model=...`` or in
# ``ipython_config.py`` (``c.Gemini.model = ...``). The API key is deliberately not a setting:
# config files and ``%config`` output end up in notebooks and repositories.

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, Field
from typing import Any

from traitlets import Bool, CFloat, CInt, Dict, Enum, TraitError, Unicode, validate
from traitlets.config import Configurable

from .._settings import configurable_settings, setting_problem

__all__ = ["FORMATS", "Gemini"]

FORMATS = ("markdown", "text", "code", "json")

_TRAIT_TYPES: dict[str, Callable[..., Any]] = {
    "str": Unicode,
    "str | None": Unicode,
    "float": CFloat,
    "int": CInt,
    "bool": Bool,
}
_TRAIT_TYPES["Mapping[str, Mapping[str, Any]] | None"] = lambda default, **kw: Dict(
    default_value=default, **kw
)


def setting_trait(item: Field[Any]) -> Any:
    """The trait of one `Settings` field. A field the environment can give (model, base_url,
    log) is unset (None) by default, so the environment still decides; the others default to
    the field's own default."""
    help_text = item.metadata["help"]
    env = item.metadata["env"]
    default = None if env else item.default
    if env:
        help_text += f" Default: ${env}, else {item.default!r}."
    choices = item.metadata["choices"]
    if choices:
        trait = Enum(choices, default, allow_none=True, help=help_text)
    else:
        trait = _TRAIT_TYPES[str(item.type)](default, allow_none=default is None, help=help_text)
    return trait.tag(config=True)


def _check_setting(self: Any, proposal: Any) -> Any:
    value = proposal["value"]
    problem = None if value is None else setting_problem(proposal["trait"].name, value)
    if problem:
        raise TraitError(problem)
    return value


def _setting_traits() -> Any:
    """A configurable with one trait per `Settings` field ``%config`` may set (generated: the
    fields are declared once, in _settings.py) and the check `Settings` itself makes."""
    items = [f for f in configurable_settings() if f.default is not MISSING]
    namespace: dict[str, Any] = {item.name: setting_trait(item) for item in items}
    namespace["_check_setting"] = validate(*namespace)(_check_setting)
    return type("GeminiSettings", (Configurable,), namespace)


SettingTraits: Any = _setting_traits()


class Gemini(SettingTraits):  # type: ignore[misc]  # generated base: its traits are typed Any
    """Settings of the %%gemini magic: every `Settings` field but the key (generated), and the
    magic's own (system prompt, format, streaming, prices, context, update rate). Unset (None)
    values fall back to the environment."""

    system = Unicode(
        None, allow_none=True, help="System prompt used when a cell gives none (-s)."
    ).tag(config=True)
    format = Enum(FORMATS, "markdown", help="How answers are shown (-f).").tag(config=True)
    stream = Bool(True, help="Stream answers live (False: like --no-stream).").tag(config=True)
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
