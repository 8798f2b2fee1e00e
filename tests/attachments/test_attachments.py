"""Attachments: every supported type round-trips through FakeGateway over real sockets."""

from __future__ import annotations

import base64
import io
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from conftest import client_for
from ipygemini import Client, GeneratedImage
from ipygemini.attachments import (
    Attachment,
    AttachmentError,
    describe,
    is_attachable,
    to_content_parts,
)
from ipygemini.testing import FakeGateway

pd = pytest.importorskip("pandas")
np = pytest.importorskip("numpy")
PIL_Image = pytest.importorskip("PIL.Image")

KEY = "sk-attach-test-0001"
GATEWAY_KEY = KEY  # the key of this module's gateways (conftest.py: gateway_key)


@pytest.fixture
def client(gw: FakeGateway) -> Any:
    with client_for(gw) as c:
        yield c


def send(client: Client, gw: FakeGateway, *objects: Any, **kw: Any) -> list[Any]:
    client.chat("look", attachments=[to_part for to_part in objects], **kw)
    return list(gw.requests[-1].attachments)


def text_parts(gw: FakeGateway) -> list[str]:
    content = gw.requests[-1].body["messages"][-1]["content"]
    return [p["text"] for p in content if p["type"] == "text"][1:]  # [0] is the prompt


def png_bytes(w: int, h: int, mode: str = "RGB", fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    PIL_Image.new(mode, (w, h), "red").save(buf, format=fmt)
    return buf.getvalue()


def csv_section(text: str) -> str:
    return "\n".join(text.splitlines()[2:])


# --- tables ----------------------------------------------------------------------------------


def test_dataframe_csv_round_trips(client: Client, gw: FakeGateway) -> None:
    df = pd.DataFrame(
        {"city": ["Oslo", "Lima", "Pune"], "temp": [3.5, 19.0, 31.25], "n": [1, 2, 3]}
    )
    assert send(client, gw, Attachment(df, "df")) == []
    (text,) = text_parts(gw)
    assert text.startswith("DataFrame df: 3 rows × 3 columns")
    assert "temp (float64)" in text and "n (int64)" in text
    back = pd.read_csv(io.StringIO(csv_section(text)))
    pd.testing.assert_frame_equal(back, df)


def test_series_and_markdown_table(client: Client, gw: FakeGateway) -> None:
    s = pd.Series([1, 2, 3], name="x")
    client.chat("look", attachments=[s])
    assert "x (int64)" in text_parts(gw)[0]
    (part,) = to_content_parts(
        [pd.DataFrame({"a": [1, 2], "b": ["x|y", "z"]})], table_format="markdown"
    )
    assert part["text"].splitlines()[2:] == [
        "| a | b |",
        "| --- | --- |",
        "| 1 | x\\|y |",
        "| 2 | z |",
    ]


def test_large_dataframe_is_sampled_with_a_note(client: Client, gw: FakeGateway) -> None:
    df = pd.DataFrame({"i": range(1000), "sq": [i * i for i in range(1000)]})
    client.chat("look", attachments=[Attachment(df, "big")])
    (text,) = text_parts(gw)
    assert "1000 rows × 2 columns" in text
    assert "800 rows in between are left out" in text
    head, _, tail = csv_section(text).partition("\n...\n")
    head_df = pd.read_csv(io.StringIO(head.split("\n", 1)[1]))
    assert list(head_df["i"]) == list(range(100))
    tail_df = pd.read_csv(io.StringIO(tail), header=None)
    assert list(tail_df[0]) == list(range(900, 1000))
    assert "..." not in head and "[1000 rows x 2 columns]" not in text


def test_csv_file_read_as_table(client: Client, gw: FakeGateway, tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("a,b\n1,x\n2,y\n")
    client.chat("look", attachments=[path])
    text = text_parts(gw)[0]
    assert text.startswith("DataFrame data.csv: 2 rows × 2 columns")


# --- images ----------------------------------------------------------------------------------


def test_matplotlib_figure_axes_and_plt(client: Client, gw: FakeGateway) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([1, 2, 3], [1, 4, 9])
    received = send(client, gw, fig, ax, plt)
    assert [a.mime_type for a in received] == ["image/png"] * 3
    for a in received:
        w, h = a.image_size
        assert 200 < w <= 400 and 150 < h <= 300  # 4×3 in at 100 dpi, tight bbox
    plt.close(fig)


def test_pil_numpy_and_ipython_images(client: Client, gw: FakeGateway) -> None:
    from IPython.display import Image as IPyImage

    pil = PIL_Image.new("RGBA", (30, 20), (0, 0, 255, 128))
    arr = np.zeros((12, 34, 3), dtype=np.uint8)
    ipy = IPyImage(data=png_bytes(7, 5))
    received = send(client, gw, pil, arr, ipy)
    assert [a.image_size for a in received] == [(30, 20), (34, 12), (7, 5)]


def test_generated_image_and_reply_attach(client: Client, gw: FakeGateway) -> None:
    reply = client.chat("a green square", model="gemini-2.5-flash-image")
    received = send(client, gw, reply, reply.images[0])
    assert [a.data for a in received] == [reply.images[0].data] * 2


def test_big_image_is_downscaled(client: Client, gw: FakeGateway) -> None:
    (a,) = send(client, gw, PIL_Image.new("RGB", (4000, 1000), "white"))
    assert a.image_size == (3072, 768)
    (part,) = to_content_parts([png_bytes(500, 100)], max_side=250)
    assert GeneratedImage.from_url(part["image_url"]["url"]).size == (250, 50)  # type: ignore[union-attr]


def test_gif_is_converted_to_png(client: Client, gw: FakeGateway) -> None:
    (a,) = send(client, gw, png_bytes(9, 9, "P", "GIF"))
    assert a.mime_type == "image/png" and a.image_size == (9, 9)


def test_bad_numpy_array_is_refused() -> None:
    with pytest.raises(AttachmentError, match="uint8"):
        to_content_parts([Attachment(np.zeros((3, 3, 3)), "floats")])


# --- files, bytes, URLs ----------------------------------------------------------------------


def test_pdf_file_arrives_byte_identical(client: Client, gw: FakeGateway, tmp_path: Path) -> None:
    pdf = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    (a,) = send(client, gw, path)
    assert (a.kind, a.filename, a.mime_type, a.data) == (
        "file",
        "report.pdf",
        "application/pdf",
        pdf,
    )
    parts = to_content_parts([path], file_style="image_url")
    assert parts[0]["image_url"]["url"].startswith("data:application/pdf;base64,")
    assert base64.b64decode(parts[0]["image_url"]["url"].split(",", 1)[1]) == pdf


def test_text_file_and_bytes(client: Client, gw: FakeGateway, tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("# Notes\nhello")
    send(client, gw, tmp_path / "notes.md", b"plain bytes text", png_bytes(3, 2))
    texts = text_parts(gw)
    assert texts == ["[notes.md]\n# Notes\nhello", "[bytes]\nplain bytes text"]
    assert gw.requests[-1].attachments[0].image_size == (3, 2)


def test_url_passed_by_reference(client: Client, gw: FakeGateway) -> None:
    url = "https://example.com/a%20b/photo.jpg?size=large&x=1"
    (a,) = send(client, gw, url)
    assert a.url == url and a.data is None


def test_string_of_text_is_sent_as_text(client: Client, gw: FakeGateway) -> None:
    send(client, gw, Attachment("Some notes\nacross lines", "notes"))
    assert text_parts(gw) == ["[notes]\nSome notes\nacross lines"]


@pytest.mark.parametrize("value", ["Version 1.2", "see e.g. this", "Budget: 3.5M", "3/4", "v1.2"])
def test_short_text_with_a_dot_is_text_not_a_missing_file(value: str) -> None:
    (part,) = to_content_parts([Attachment(value, "note")])
    assert part == {"type": "text", "text": f"[note]\n{value}"}


@pytest.mark.parametrize("value", ["report.pdf", "data/table.csv", "~/missing/notes.txt"])
def test_strings_that_plainly_name_a_file_must_exist(value: str) -> None:
    with pytest.raises(AttachmentError, match="no such file"):
        to_content_parts([value])


def test_an_existing_file_named_like_text_is_attached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Version 1.2").write_text("the file's own text")
    (part,) = to_content_parts(["Version 1.2"])
    assert part["text"].endswith("the file's own text")


# --- errors ----------------------------------------------------------------------------------


def test_missing_file_names_the_path(client: Client, gw: FakeGateway, tmp_path: Path) -> None:
    before = len(gw.requests)
    with pytest.raises(AttachmentError, match=r"no such file: .*nope\.pdf"):
        client.chat("x", attachments=[tmp_path / "nope.pdf"])
    assert len(gw.requests) == before


def test_unsupported_type_lists_supported() -> None:
    with pytest.raises(AttachmentError) as info:
        to_content_parts([Attachment({1, 2}, "myset")])
    message = str(info.value)
    assert "'myset' (set)" in message and "DataFrame" in message and "\n" not in message


def test_unsupported_document_type(tmp_path: Path) -> None:
    path = tmp_path / "sheet.xlsx"
    path.write_bytes(b"PK\x03\x04" + b"\0" * 50)
    with pytest.raises(AttachmentError, match="does not accept"):
        to_content_parts([path])


def test_oversized_attachment_names_size_and_setting(tmp_path: Path) -> None:
    path = tmp_path / "big.pdf"
    path.write_bytes(b"%PDF-" + b"\0" * 2_000_000)
    with pytest.raises(AttachmentError) as info:
        to_content_parts([path], max_bytes=1_000_000)
    message = str(info.value)
    assert "big.pdf" in message and "2.0 MB" in message and "max_bytes=N" in message
    with pytest.raises(AttachmentError, match="frame"):
        to_content_parts([Attachment(pd.DataFrame({"a": range(100_000)}), "frame")], max_bytes=1000)


def test_describe_and_is_attachable(tmp_path: Path) -> None:
    df = pd.DataFrame({"a": [1, 2]})
    assert describe(df) == "DataFrame 2×1"
    assert is_attachable(df) and is_attachable(PIL_Image.new("RGB", (2, 2)))
    assert not is_attachable(3) and not is_attachable("text") and not is_attachable(b"x")


def test_optional_libraries_missing() -> None:
    """Without pandas, matplotlib and Pillow the extension loads and attaching explains itself."""
    code = textwrap.dedent(
        """
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {"pandas", "matplotlib", "PIL"}:
                    raise ImportError("blocked " + name)
        sys.meta_path.insert(0, Block())
        import ipygemini, ipygemini.attachments as A
        from IPython.testing.globalipapp import start_ipython
        ip = start_ipython()
        ip.run_line_magic("load_ext", "ipygemini")
        import numpy as np
        part, = A.to_content_parts([np.zeros((4, 5, 3), dtype=np.uint8)])
        assert part["image_url"]["url"].startswith("data:image/png;base64,")
        gif = b"GIF89a" + b"\\0" * 20
        try:
            A.to_content_parts([gif])
        except A.AttachmentError as e:
            print("ERR", e)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "needs pillow: pip install pillow" in out.stdout
