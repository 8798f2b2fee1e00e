"""How answers look: Markdown to safe HTML, block splitting, display bundles and live display."""

# The panel and the magic share these names; the live display (`LiveMarkdown`, publishers) and
# the terminal view are imported from their modules (`_live`, `_terminal`) where they are used.

from ._blocks import BlockSplitter, SplitEvent, tail_text
from ._bundles import (
    FOOTER_SANITIZE_PATTERN,
    PLACEHOLDER,
    Bundle,
    answer_bundle,
    footer_bundle,
    image_bundle,
    reply_bundle,
)
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
    "FOOTER_SANITIZE_PATTERN",
    "PLACEHOLDER",
    "BlockSplitter",
    "Bundle",
    "SplitEvent",
    "answer_bundle",
    "code_blocks",
    "escape",
    "footer_bundle",
    "image_bundle",
    "render_markdown",
    "reply_bundle",
    "sanitize_html",
    "tail_text",
]
