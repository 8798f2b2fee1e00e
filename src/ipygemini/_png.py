"""Tiny PNG writer/reader (zlib + struct only) and image-size sniffing.

Used by attachments (arrays without Pillow), `GeneratedImage.size` and the fake gateway.
"""

from __future__ import annotations

import random
import struct
import zlib
from dataclasses import dataclass

__all__ = [
    "PNG_SIGNATURE",
    "DecodedPng",
    "decode_png",
    "encode_png",
    "gradient_png",
    "image_size",
    "noise_png",
    "solid_png",
    "tint_png",
]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

RGB = tuple[int, int, int]

# Decoding is a pure-Python loop per byte; above this many pixels the editor skips it.
MAX_DECODE_PIXELS = 256 * 256


@dataclass(frozen=True, slots=True)
class DecodedPng:
    """Raw 8-bit pixels of a PNG: height rows of width*channels bytes, without filter bytes."""

    width: int
    height: int
    channels: int
    pixels: bytes


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def encode_png(
    width: int, height: int, pixels: bytes, *, channels: int = 3, level: int = 6
) -> bytes:
    """A PNG of `pixels` (rows of width*channels bytes, top to bottom), every row with filter 0."""
    stride = width * channels
    if len(pixels) != stride * height:
        raise ValueError("pixel buffer does not match width*height*channels")
    colour_type = {3: 2, 4: 6}[channels]
    raw = bytearray((stride + 1) * height)
    mv = memoryview(pixels)
    for y in range(height):
        start = y * (stride + 1) + 1
        raw[start : start + stride] = mv[y * stride : (y + 1) * stride]
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(bytes(raw), level))
        + _chunk(b"IEND", b"")
    )


def solid_png(width: int, height: int, colour: RGB) -> bytes:
    """A PNG filled with one colour."""
    return encode_png(width, height, bytes(colour) * (width * height))


def gradient_png(width: int, height: int, top: RGB, bottom: RGB) -> bytes:
    """A PNG shading vertically from `top` to `bottom`."""
    rows = []
    for y in range(height):
        t = y / (height - 1) if height > 1 else 0.0
        colour = bytes(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        rows.append(colour * width)
    return encode_png(width, height, b"".join(rows))


def noise_png(approx_bytes: int, *, seed: int = 0, width: int = 1024) -> bytes:
    """A valid PNG of about `approx_bytes`: deterministic noise rows stored with zlib level 0."""
    stride = width * 3
    height = max(1, approx_bytes // (stride + 1))
    pixels = random.Random(seed).randbytes(stride * height)
    return encode_png(width, height, pixels, level=0)


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def decode_png(data: bytes, *, max_pixels: int = MAX_DECODE_PIXELS) -> DecodedPng | None:
    """Pixels of an 8-bit RGB/RGBA non-interlaced PNG, or None for anything else (or too large)."""
    if not data.startswith(PNG_SIGNATURE):
        return None
    pos = len(PNG_SIGNATURE)
    header: tuple[int, ...] | None = None
    idat = bytearray()
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR" and len(body) == 13:
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    if header is None:
        return None
    width, height, depth, colour_type, _compression, _filter, interlace = header
    if depth != 8 or colour_type not in (2, 6) or interlace != 0:
        return None
    if width == 0 or height == 0 or width * height > max_pixels:
        return None
    channels = 3 if colour_type == 2 else 4
    stride = width * channels
    try:
        raw = zlib.decompress(bytes(idat))
    except zlib.error:
        return None
    if len(raw) < (stride + 1) * height:
        return None
    out = bytearray(stride * height)
    prev = bytearray(stride)
    for y in range(height):
        base = y * (stride + 1)
        kind_byte = raw[base]
        line = bytearray(raw[base + 1 : base + 1 + stride])
        if kind_byte == 1:
            for i in range(channels, stride):
                line[i] = (line[i] + line[i - channels]) & 0xFF
        elif kind_byte == 2:
            for i in range(stride):
                line[i] = (line[i] + prev[i]) & 0xFF
        elif kind_byte == 3:
            for i in range(stride):
                left = line[i - channels] if i >= channels else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif kind_byte == 4:
            for i in range(stride):
                left = line[i - channels] if i >= channels else 0
                upleft = prev[i - channels] if i >= channels else 0
                line[i] = (line[i] + _paeth(left, prev[i], upleft)) & 0xFF
        elif kind_byte != 0:
            return None
        out[y * stride : (y + 1) * stride] = line
        prev = line
    return DecodedPng(width, height, channels, bytes(out))


def tint_png(image: DecodedPng, colour: RGB) -> bytes:
    """A PNG of `image` blended half-way towards `colour` (alpha, if any, kept)."""
    pixels = bytearray(image.pixels)
    for channel, target in enumerate(colour):
        table = bytes((v + target) // 2 for v in range(256))
        pixels[channel :: image.channels] = pixels[channel :: image.channels].translate(table)
    return encode_png(image.width, image.height, bytes(pixels), channels=image.channels)


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        is_sof = 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC)
        if is_sof and pos + 9 <= len(data):
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        pos += 2 + length
    return None


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) read from a PNG, JPEG or GIF header, or None."""
    if data.startswith(PNG_SIGNATURE) and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return width, height
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    return None
