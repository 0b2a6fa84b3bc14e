"""Decode page bytes to text: the one place where a page's encoding is decided.

Order (gov-portals.md 2.5, style.md 2.2): byte-order mark, then the declared encoding (HTTP header /
Scrapy's ``response.encoding``), then ``<meta charset>`` / ``http-equiv`` / the XML declaration, then
UTF-8, then GB18030. ``gb2312``/``gbk`` declarations are widened to ``gb18030`` (a superset: GBK
characters such as 镕 堃 喆 珺 are outside GB2312 and appear in names). A declaration is not trusted
blindly: bytes that are valid UTF-8 with non-ASCII text are UTF-8 whatever the page says (portals
that declare GB2312 but serve UTF-8 exist), and when no candidate decodes cleanly the one with the
fewest U+FFFD replacement characters wins (a UTF-8 header on GBK bytes is the common case). Never
forced to UTF-8.
"""

from __future__ import annotations

import codecs
import re

# Declared names mapped to the codec we actually use (w3lib's translation table, plus a few aliases).
_TRANSLATE = {
    "gb2312": "gb18030", "gb-2312": "gb18030", "gb-2312-80": "gb18030", "gb2312-80": "gb18030",
    "csgb2312": "gb18030", "euc-cn": "gb18030", "x-euc-cn": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030",
    "cp936": "gb18030", "ms936": "gb18030", "windows-936": "gb18030", "gb18030": "gb18030",
    "utf8": "utf-8", "utf-8": "utf-8", "unicode-1-1-utf-8": "utf-8",
    "big5": "big5hkscs", "big5-hkscs": "big5hkscs", "x-x-big5": "big5hkscs",
    "ascii": "cp1252", "us-ascii": "cp1252", "latin1": "cp1252", "latin-1": "cp1252",
    "iso-8859-1": "cp1252", "iso8859-1": "cp1252", "l1": "cp1252", "windows-1252": "cp1252",
}
# Encodings that decode any byte string: a declaration of one of them says nothing about the bytes
# (Scrapy reports cp1252 when nothing is declared), so it is tried last, not first.
_WEAK = frozenset({"cp1252"})

_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
_META_CHARSET_RE = re.compile(
    rb"""<meta[^>]+?charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""", re.I)
_XML_DECL_RE = re.compile(rb"""^\s*<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_.\-]+)""", re.I)
_SNIFF_BYTES = 16384


def normalize_encoding(name: str | None) -> str | None:
    """The codec name to use for a declared charset, or None when Python does not know it."""
    if not name:
        return None
    key = name.strip().strip("\"'").lower().replace("_", "-")
    try:
        return codecs.lookup(_TRANSLATE.get(key, key)).name
    except LookupError:
        return None


def declared_in_markup(body: bytes) -> str | None:
    """The charset the markup itself declares (``<meta>`` or XML declaration), normalised."""
    head = body[:_SNIFF_BYTES]
    match = _XML_DECL_RE.search(head) or _META_CHARSET_RE.search(head)
    return normalize_encoding(match.group(1).decode("ascii", "ignore")) if match else None


def _decode_strict(body: bytes, codec: str) -> tuple[str, int]:
    """Strict decoding that forgives a character cut off at the very end (a truncated transfer); the text
    and how many bytes of ``body`` it holds."""
    try:
        return body.decode(codec), len(body)
    except UnicodeDecodeError as exc:
        if exc.end < len(body) or len(body) - exc.start > 4:
            raise
        return body[: exc.start].decode(codec), exc.start


def decode_html(body: bytes, declared: str | None = None) -> str:
    """Page bytes -> text; see the module docstring for the order of evidence."""
    return decode_html_utf8(body, declared)[0]


def decode_html_utf8(body: bytes, declared: str | None = None) -> tuple[str, bytes | None]:
    """``decode_html`` and, when the text is a strict UTF-8 (or ASCII) decoding of ``body`` or of its
    start, those bytes (else None): a UTF-8 parser can take them as they are instead of re-encoding."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return body[len(bom):].decode(codec, "replace"), None
    if body.isascii():
        return body.decode("ascii"), body
    hint = normalize_encoding(declared)
    markup = declared_in_markup(body)
    candidates: list[str] = []
    for name in (hint, markup):
        if name and name not in _WEAK and name not in candidates:
            candidates.append(name)
    if candidates and candidates[0] != "utf-8":
        # valid UTF-8 with non-ASCII text (GBK text practically never is): a wrong GB/other declaration
        try:
            text, end = _decode_strict(body, "utf-8")
        except UnicodeDecodeError:
            pass
        else:
            return text, body[:end] if end < len(body) else body
    for name in ("utf-8", "gb18030", hint, markup):
        if name and name not in candidates:
            candidates.append(name)
    best: tuple[int, str] | None = None
    for name in candidates:
        try:
            text, end = _decode_strict(body, name)
        except UnicodeDecodeError:
            text = body.decode(name, "replace")
        except LookupError:
            continue
        else:
            if name != "utf-8":
                return text, None
            return text, body[:end] if end < len(body) else body
        bad = text.count("\ufffd")
        if bad <= _tolerated(text):  # a few broken bytes in an otherwise right decoding
            return text, None
        if best is None or bad < best[0]:
            best = (bad, text)
    return (best[1] if best else body.decode("utf-8", "replace")), None


def _tolerated(text: str) -> int:
    """Replacement characters accepted before trying the next candidate: 2, or 0.5% of the non-ASCII."""
    non_ascii = len(text) - len(text.encode("ascii", "ignore"))
    return max(2, non_ascii // 200)
