"""Token colours of highlighted code that follow the notebook's theme (JupyterLab's editor variables).

Each pygments token type gets ``color: var(--jp-mirror-editor-…-color, <light colour>)``: in
JupyterLab (Light or Dark) the code takes the editor's own palette; where the variables are
missing (VS Code, a plain HTML page) the light fallback applies. Only variables whose Light and
Dark values both reach 4.5:1 against a code block's background (``--jp-layout-color0``: white,
``#111``) are used: Lab's own comment, operator, meta, atom, bracket and error colours do not,
so comments take the secondary content colour and operators stay in the text colour. Fallbacks
are plain hex: nh3 cuts a fallback with nested parentheses (``rgba(…)``).
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import Any

__all__ = ["TOKEN_STYLES", "highlight_tokens", "token_style"]

_KEYWORD = "color:var(--jp-mirror-editor-keyword-color, #008000);font-weight:bold"
_STRING = "color:var(--jp-mirror-editor-string-color, #ba2121)"
_STRING_2 = "color:var(--jp-mirror-editor-string-2-color, #708)"
_NUMBER = "color:var(--jp-mirror-editor-number-color, #080)"
_DEF = "color:var(--jp-mirror-editor-def-color, #00f)"
_BUILTIN = "color:var(--jp-mirror-editor-builtin-color, #008000)"
_PROPERTY = "color:var(--jp-mirror-editor-property-color, #05a)"
_VARIABLE_2 = "color:var(--jp-mirror-editor-variable-2-color, #00366d)"
_HEADER = "color:var(--jp-mirror-editor-header-color, #00f);font-weight:bold"
_COMMENT = "color:var(--jp-content-font-color2, #757575);font-style:italic"

TOKEN_STYLES: dict[str, str] = {
    "Keyword": _KEYWORD,
    "Operator.Word": _KEYWORD,
    "Name.Tag": _KEYWORD,
    "Name.Builtin": _BUILTIN,
    "Name.Exception": _BUILTIN,
    "Name.Function": _DEF,
    "Name.Class": _DEF,
    "Name.Decorator": _PROPERTY,
    "Name.Attribute": _PROPERTY,
    "Name.Namespace": _VARIABLE_2,
    "Name.Entity": _VARIABLE_2,
    "Name.Label": _VARIABLE_2,
    "Literal.String": _STRING,
    "Literal.String.Escape": _STRING_2,
    "Literal.String.Interpol": _STRING_2,
    "Literal.String.Regex": _STRING_2,
    "Literal.String.Affix": _KEYWORD,
    "Literal.Number": _NUMBER,
    "Comment": _COMMENT,
    "Generic.Heading": _HEADER,
    "Generic.Subheading": _HEADER,
    "Generic.Deleted": _STRING,
    "Generic.Inserted": _NUMBER,
}
"""Token type (pygments' dotted name, without ``Token.``) -> inline style; unlisted: text colour."""


def token_style(token_type: Any) -> str:
    """The style of a pygments token type: its own entry or its nearest listed ancestor's."""
    name = str(token_type).removeprefix("Token").lstrip(".")
    while name:
        style = TOKEN_STYLES.get(name)
        if style is not None:
            return style
        name = name.rpartition(".")[0]
    return ""


def highlight_tokens(tokens: Iterable[tuple[Any, str]]) -> str:
    """Lexer tokens as escaped HTML, each coloured run in one ``<span style>``."""
    out: list[str] = []
    run_style, run = "", list[str]()
    for token_type, value in tokens:
        style = token_style(token_type) if value.strip() else run_style
        if style != run_style and run:
            out.append(_span(run_style, "".join(run)))
            run = []
        run_style = style
        run.append(value)
    if run:
        out.append(_span(run_style, "".join(run)))
    return "".join(out)


def _span(style: str, text: str) -> str:
    html = escape(text, quote=False)
    return f'<span style="{style}">{html}</span>' if style else html
