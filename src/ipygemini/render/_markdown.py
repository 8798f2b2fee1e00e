"""Untrusted Markdown → safe HTML for notebook outputs and the chat panel."""

# markdown-it-py parses with raw HTML off; nh3 then keeps only a small tag set, http/https/mailto
# links and no ``<img>`` at all, so model text can neither run script nor load a remote resource.

from __future__ import annotations

import html
import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ._highlight import highlight_tokens

if TYPE_CHECKING:
    from collections.abc import Sequence

    from markdown_it import MarkdownIt
    from markdown_it.renderer import RendererHTML
    from markdown_it.rules_inline import StateInline
    from markdown_it.token import Token
    from markdown_it.utils import EnvType, OptionsDict

__all__ = ["code_blocks", "escape", "render_markdown", "sanitize_html"]

ALLOWED_TAGS = frozenset(
    {
        "a",
        "blockquote",
        "br",
        "code",
        "del",
        "em",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "li",
        "ol",
        "p",
        "pre",
        "s",
        "span",
        "strong",
        "table",
        "tbody",
        "td",
        "th",
        "thead",
        "tr",
        "ul",
    }
)
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title"},
    "code": {"class"},
    "ol": {"start"},
    "span": {"class", "style"},
    "th": {"style"},
    "td": {"style"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
STYLE_PROPERTIES = frozenset({"text-align", "color", "font-weight", "font-style"})
"""The only CSS kept: table alignment and the colours of highlighted code."""
_LANGUAGE_CLASS = re.compile(r"language-[A-Za-z0-9_+#.-]{1,40}")


def escape(text: str) -> str:
    """HTML-escape text (quotes included)."""
    return html.escape(text, quote=True)


def _keep_attribute(tag: str, attribute: str, value: str) -> str | None:
    # Called by nh3 for every allowed attribute; it must never raise.
    if attribute != "class":
        return value
    if tag == "code":
        return value if _LANGUAGE_CLASS.fullmatch(value) else None
    if tag == "span":
        return value if value == "math" else None
    return None


@lru_cache(maxsize=1)
def _cleaner() -> Any:
    import nh3

    return nh3.Cleaner(
        tags=set(ALLOWED_TAGS),
        clean_content_tags={"script", "style"},
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=_keep_attribute,
        url_schemes=set(URL_SCHEMES),
        url_relative="deny",
        filter_style_properties=set(STYLE_PROPERTIES),
        link_rel="noopener noreferrer nofollow",
    )


def sanitize_html(fragment: str) -> str:
    """Keep only the allowed tags, attributes and link schemes of an HTML fragment."""
    result: str = _cleaner().clean(fragment)
    return result


# --- markdown-it extensions -------------------------------------------------------------------


def _math_inline(state: StateInline, silent: bool) -> bool:
    """Keep ``$…$``, ``$$…$$``, ``\\(…\\)`` and ``\\[…\\]`` verbatim so MathJax can typeset them.

    Without this, ``*`` and ``_`` inside formulas would become emphasis and ``\\(`` would lose
    its backslash. Single dollars follow Pandoc's rule (no space inside the delimiters, no
    digit right after the closing one), so prices like "$5 and $10" stay text.
    """
    src = state.src
    pos = state.pos
    ch = src[pos]
    if ch == "\\":
        if pos + 1 >= state.posMax or src[pos + 1] not in "([":
            return False
        closer = "\\)" if src[pos + 1] == "(" else "\\]"
        end = src.find(closer, pos + 2, state.posMax)
        if end == -1:
            return False
        stop = end + 2
    elif ch == "$":
        if src.startswith("$$", pos):
            end = src.find("$$", pos + 2, state.posMax)
            if end == -1 or end == pos + 2:
                return False
            stop = end + 2
        else:
            nxt = src[pos + 1] if pos + 1 < state.posMax else ""
            if not nxt or nxt.isspace() or nxt == "$":
                return False
            end = pos + 1
            while True:
                end = src.find("$", end + 1, state.posMax)
                if end == -1:
                    return False
                if src[end - 1] == "\\":
                    continue
                if src[end - 1].isspace():
                    continue
                after = src[end + 1] if end + 1 < state.posMax else ""
                if after.isdigit():
                    continue
                break
            stop = end + 1
    else:
        return False
    if not silent:
        token = state.push("math_inline", "span", 0)
        token.content = src[pos:stop]
    state.pos = stop
    return True


def _render_math(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return f'<span class="math">{escape(tokens[idx].content)}</span>'


def _render_image(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    # Never an <img>: a remote image would load (and could leak data in its URL). Show a link.
    token = tokens[idx]
    alt = self.renderInlineAsText(token.children or [], options, env).strip() or "image"
    src = str(token.attrGet("src") or "")
    return f'<a href="{escape(src)}">[image: {escape(alt)}]</a>'


def _highlight(code: str, language: str, attrs: str) -> str:
    """A fenced block's code as spans coloured by the theme ("" leaves it plain).

    Only a named language is highlighted (guessing is slow and often wrong); markdown-it wraps
    the spans in ``<pre><code class="language-…">`` and nh3 keeps only the colour properties.
    """
    name = language.strip().split(" ", 1)[0]
    if not name:
        return ""
    try:
        lexer = _lexer(name.lower())
    except LookupError:
        return ""
    return highlight_tokens(lexer.get_tokens(code))


@lru_cache(maxsize=64)
def _lexer(name: str) -> Any:
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        return get_lexer_by_name(name, stripnl=False, ensurenl=False)
    except ClassNotFound:
        raise LookupError(name) from None


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    from markdown_it import MarkdownIt

    md = MarkdownIt(
        "commonmark",
        {"html": False, "linkify": False, "typographer": False, "highlight": _highlight},
    )
    md.enable(["table", "strikethrough"])
    md.inline.ruler.before("escape", "math_inline", _math_inline)
    md.add_render_rule("math_inline", _render_math)
    md.add_render_rule("image", _render_image)
    return md


def render_markdown(text: str) -> str:
    """Markdown from an untrusted source as sanitised HTML (deterministic: same text, same HTML).

    Raw HTML in the text is shown as text, links keep only http/https/mailto targets, images
    become links, code blocks keep their ``language-*`` class (and are highlighted when they
    name a language pygments knows) and math stays as written.
    """
    return sanitize_html(_markdown().render(text))


def code_blocks(text: str) -> list[tuple[str, str]]:
    """The fenced and indented code blocks of a Markdown text as (language, code) pairs."""
    blocks: list[tuple[str, str]] = []
    for token in _markdown().parse(text):
        if token.type == "fence":
            blocks.append((token.info.strip().split(" ", 1)[0], token.content))
        elif token.type == "code_block":
            blocks.append(("", token.content))
    return blocks
