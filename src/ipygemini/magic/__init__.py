"""The %%gemini cell magic and the %gemini commands."""

from ._magics import (
    AnswerError,
    GeminiMagics,
    PromptError,
    interpolate,
    load_ipython_extension,
    unload_ipython_extension,
)

__all__ = [
    "AnswerError",
    "GeminiMagics",
    "PromptError",
    "interpolate",
    "load_ipython_extension",
    "unload_ipython_extension",
]
