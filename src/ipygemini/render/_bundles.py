"""Display bundles (MIME dicts) for answer blocks, thinking, images and the footer line."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._types import GeneratedImage, Reply, ToolCall

__all__ = [
    "FOOTER_SANITIZE_PATTERN",
    "PLACEHOLDER",
    "RENDERERS",
    "Bundle",
    "answer_bundle",
    "footer_bundle",
    "image_bundle",
    "markdown_bundle",
    "reply_bundle",
    "thinking_bundle",
]

Bundle = dict[str, str]

PLACEHOLDER: Bundle = {"text/plain": ""}
"""An empty text output (kept for callers of earlier versions; live handles now start empty)."""

FOOTER_SANITIZE_PATTERN = r"\d+(?:\.\d+)? s\b"
"""The footer's only volatile part (seconds); nbval users can replace it with this regex."""


def markdown_bundle(text: str) -> Bundle:
    from ._markdown import render_markdown

    return {"text/html": render_markdown(text), "text/plain": text}


def text_bundle(text: str) -> Bundle:
    return {"text/plain": text}


def json_bundle(text: str) -> Bundle:
    from ._markdown import escape

    html = f'<pre><code class="language-json">{escape(text)}</code></pre>'
    return {"text/html": html, "text/plain": text}


RENDERERS: dict[str, Callable[[str], Bundle]] = {
    "markdown": markdown_bundle,
    "code": markdown_bundle,
    "text": text_bundle,
    "json": json_bundle,
}


def image_bundle(image: GeneratedImage) -> Bundle:
    """An image from its bytes; a remote URL only as a link (it is never loaded)."""
    if image.displayable and image.data is not None:
        return {
            image.mime_type: base64.b64encode(image.data).decode("ascii"),
            "text/plain": repr(image),
        }
    if image.url:
        from ._markdown import escape, sanitize_html

        link = sanitize_html(
            f'<p><a href="{escape(image.url)}">[image: {escape(image.url)}]</a></p>'
        )
        return {"text/html": link, "text/plain": f"[image: {image.url}]"}
    return {"text/plain": f"[{image!r}: not shown; see the reply's images]"}


_IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")


def answer_bundle(pieces: list[Bundle]) -> Bundle:
    """The parts of an answer (blocks, thinking, images, tool calls, footer) as ONE output: their
    HTML in order (an image from its bytes as a ``data:`` ``<img>``, never a URL; a part with no
    HTML as escaped text) and their text joined by blank lines."""
    from ._markdown import escape

    html: list[str] = []
    plain: list[str] = []
    for piece in pieces:
        text = piece.get("text/plain", "")
        if "text/html" in piece:
            html.append(piece["text/html"])
        elif (mime := next((m for m in _IMAGE_TYPES if m in piece), None)) is not None:
            html.append(f'<img src="data:{mime};base64,{piece[mime]}" alt="generated image">')
        elif text:
            html.append(f"<pre>{escape(text)}</pre>")
        if text:
            plain.append(text)
    return {"text/html": "".join(html), "text/plain": "\n\n".join(plain)}


def thinking_bundle(text: str, *, live: bool) -> Bundle:
    from ._markdown import render_markdown

    if live:
        summary, attrs = "Thinking…", " open"
    else:
        words = len(text.split())
        summary, attrs = f"Thinking ({words:,} words)", ""
    body = render_markdown(text)
    html = (
        f'<details{attrs} style="color:var(--jp-ui-font-color2,#666)">'
        f"<summary>{summary}</summary>{body}</details>"
    )
    return {"text/html": html, "text/plain": f"[{summary}]\n{text}"}


def tool_call_bundle(call: ToolCall) -> Bundle:
    """A tool call folded like thinking: ``f(x=1) → 42``, the full result inside (all escaped)."""
    from ._markdown import escape

    line = call.describe()
    detail = call.error if call.error else call.result or ""
    inner = f"<pre>{escape(detail)}</pre>"
    if call.structured is not None and not call.error:
        data = json.dumps(call.structured, indent=2, ensure_ascii=False, default=str)
        inner = f'<pre><code class="language-json">{escape(data)}</code></pre>'
    color = "var(--jp-error-color1,#c00)" if call.error else "var(--jp-ui-font-color2,#666)"
    html = (
        f'<details style="color:{color}"><summary>🔧 <code>{escape(line)}</code></summary>'
        f"{inner}</details>"
    )
    return {"text/html": html, "text/plain": f"[tool] {line}"}


def footer_bundle(
    reply: Reply | None,
    *,
    model: str,
    seconds: float,
    offline: bool = False,
    status: str | None = None,
    prices: Mapping[str, Any] | None = None,
    context: str | None = None,
) -> Bundle:
    """The short line under an answer: model, tokens, cost (where the price is known) or
    "cached", seconds, how it ended if not complete, the tool calls made, and `context` (what
    notebook context was sent). `prices` override the shipped table."""
    from ._markdown import escape

    parts = [reply.model if reply is not None and reply.model else model]
    usage = reply.usage if reply is not None else None
    if usage is not None and usage.total_tokens:
        parts.append(f"{usage.total_tokens:,} tokens")
    if reply is not None and reply.cached:
        parts.append("cached")
    elif usage is not None and not offline:
        from ..log._prices import answer_cost, dollars

        spent = answer_cost(parts[0], usage, prices)
        if spent is not None:
            parts.append(dollars(spent))
    if reply is not None and len(reply.choices) > 1:
        parts.append(f"{len(reply.choices)} answers")
    parts.append(f"{seconds:.1f} s")
    status = status or (reply.status if reply is not None else "complete")
    if status != "complete":
        parts.append(status)
    calls = len(reply.tool_calls) if reply is not None else 0
    if calls:
        parts.append(f"{calls} tool call{'s' if calls != 1 else ''}")
    if context:
        parts.append(context)
    if offline:
        parts.append("offline")
    text = " · ".join(parts)
    color = "var(--jp-error-color1,#c00)" if status in ("failed", "interrupted") else "inherit"
    notes = reply.notes if reply is not None else []
    html = (
        '<div style="font-size:0.85em;color:var(--jp-ui-font-color2,#777)">'
        f'<span style="color:{color}">{escape(text)}</span>'
        + "".join(f"<br><span>note: {escape(note)}</span>" for note in notes)
        + "</div>"
    )
    plain = "".join([f"— {text}", *(f"\n  note: {note}" for note in notes)])
    return {"text/html": html, "text/plain": plain}


def reply_bundle(reply: Reply) -> Bundle:
    """A `Reply` shown as a cell's value: the streamed answer's safe HTML, and its repr as text."""
    from ._markdown import escape, render_markdown

    html = []
    if reply.reasoning:
        html.append(thinking_bundle(reply.reasoning, live=False)["text/html"])
    if reply.text:
        html.append(render_markdown(reply.text))
    if reply.images:
        html.append(f"<p><em>{len(reply.images)} image(s): see the reply's images</em></p>")
    if reply.status != "complete":
        error = getattr(reply, "error", None)
        reason = f": {error}" if error is not None else ""
        html.append(f"<p><em>{escape(reply.status + reason)}</em></p>")
    return {"text/html": "".join(html), "text/plain": repr(reply)}
