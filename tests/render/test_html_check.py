"""The shared inertness checker (html_check.py) finds every kind of active HTML, and passes
what render/ produces."""

from __future__ import annotations

import base64

import pytest

from html_check import inert_problems
from ipygemini._png import solid_png
from ipygemini.render import render_markdown

PNG_URL = "data:image/png;base64," + base64.b64encode(solid_png(2, 2, (1, 2, 3))).decode()

ACTIVE = {
    "script": "<p>hi</p><script>alert(1)</script>",
    "style element": "<style>body{background:red}</style>",
    "iframe": '<iframe srcdoc="<b>x</b>"></iframe>',
    "svg": "<svg onload=alert(1)></svg>",
    "remote image": '<img src="https://attacker.invalid/x.png">',
    "image without source": "<img>",
    "event handler": '<a href="https://ok.example" onclick="alert(1)">x</a>',
    "upper-case handler": '<A HREF="https://ok.example" ONMOUSEOVER="alert(1)">x</A>',
    "javascript link": '<a href="javascript:alert(1)">x</a>',
    "entity-encoded javascript": '<a href="&#106;ava&#x73;cript&colon;alert(1)">x</a>',
    "spaced javascript": '<a href=" java\tscript:alert(1)">x</a>',
    "data link": '<a href="data:text/html,<script>alert(1)</script>">x</a>',
    "relative link": '<a href="/files/secret">x</a>',
    "attribute not allowed": '<p title="x" id="y">x</p>',
    "style url": '<div style="background:url(https://attacker.invalid/)">x</div>',
    "style property": '<span style="position:fixed">x</span>',
    "style on a tag without it": '<p style="color:red">x</p>',
    "form": '<form action="https://attacker.invalid/"><input name=q></form>',
    "object": '<object data="https://attacker.invalid/o.swf"></object>',
    "math with a link": '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
    "data image in a link": f'<a href="{PNG_URL}">x</a>',
}


@pytest.mark.parametrize("fragment", ACTIVE.values(), ids=ACTIVE.keys())
def test_active_html_is_reported(fragment: str) -> None:
    assert inert_problems(fragment) != []


def test_every_problem_is_listed() -> None:
    problems = inert_problems('<script></script><a href="javascript:x" onclick="y">z</a>')
    assert len(problems) == 3, problems


def test_render_output_is_inert() -> None:
    text = (
        "# Title\n\nSome *text* with [a link](https://example.com) and `code`.\n\n"
        "| a | b |\n|:--|--:|\n| 1 | 2 |\n\n```python\nprint(1)\n```\n\n"
        "$x^2$ <img src=x onerror=alert(1)> [bad](javascript:alert(1)) ![i](https://x.invalid/i)"
    )
    html = render_markdown(text)
    assert inert_problems(html, wrappers=()) == [], html


def test_wrappers_and_images_from_bytes() -> None:
    ok = (
        '<div style="opacity:0.6; font-size:0.85em"><details open><summary>Thinking</summary>'
        f'<p>x</p></details><img src="{PNG_URL}" alt="generated"></div>'
    )
    assert inert_problems(ok) == []
    assert inert_problems(ok, wrappers=()) != []  # render/ itself never emits them
