"""How answers look: Markdown to safe HTML, block splitting, display bundles and live display."""

from ._markdown import (
    ALLOWED_ATTRIBUTES,
    ALLOWED_TAGS,
    code_blocks,
    escape,
    render_markdown,
    sanitize_html,
)

__all__ = [
    "ALLOWED_ATTRIBUTES",
    "ALLOWED_TAGS",
    "code_blocks",
    "escape",
    "render_markdown",
    "sanitize_html",
]
