"""Text of one file, per format: pure functions, bytes in, a result dict out. Run them through ``runner``.

Nothing here executes what a file contains: PDFs are read with PDFium's text layer (no JavaScript, no forms
environment), OOXML and OpenDocument parts with lxml (no DTDs, no entities, no network), spreadsheets with
openpyxl (read-only, cached values, formulas never evaluated) and xlrd, legacy Word files with ``antiword`` /
``catdoc`` (argument list, no shell) when installed. Containers are checked against ``Limits.max_unpacked``
before anything is decompressed; Python's zipfile never yields more than an entry's declared size.

Library choice for PDF, measured on generated 20-page Chinese PDFs (one with an embedded, subset TrueType CJK
font, one with the non-embedded CID font STSong-Light), median CPU of 3 (benchmarks/attachments.py --compare):
pypdfium2 14 ms / 45 ms, pypdf 152 ms / 111 ms, pdfminer.six 705 ms / 810 ms; all three returned all 800 lines
exactly. pypdfium2 is 10-50x cheaper, so it is the one used.

Result keys: ``format``, ``status`` (``ok``, ``no_text:<format>``, ``failed:<reason>``), ``text`` (str or
None), ``text_truncated``, ``pages`` (PDF page count), ``needs_ocr`` (PDF with pages and no text layer),
``entries`` (archive member names).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass, field
from typing import Any

# Formats whose text is read; everything else is stored with status no_text:<format>.
TEXT_FORMATS = ("pdf", "docx", "xlsx", "xls", "doc", "wps", "txt", "csv", "zip", "rar", "html", "odt")
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_EXTENSIONS = {  # used only when the content says nothing (plain text has no magic)
    "txt": "txt", "csv": "csv", "text": "txt", "htm": "html", "html": "html", "shtml": "html",
    "doc": "doc", "wps": "wps", "xls": "xls", "et": "xls", "pdf": "pdf", "docx": "docx", "xlsx": "xlsx",
    "zip": "zip", "rar": "rar", "odt": "odt", "jpg": "image", "jpeg": "image", "png": "image", "gif": "image",
    "tif": "image", "tiff": "image", "bmp": "image", "ppt": "ppt", "pptx": "pptx", "7z": "7z", "ofd": "ofd",
}


@dataclass(frozen=True)
class Limits:
    """What one file may cost. Built from the GONGKAI_ATTACHMENT_* settings (see settings.py)."""

    max_chars: int = 200_000  # text kept per file; more -> text_truncated
    max_pages: int = 500  # PDF pages whose text is read (pages still counts them all)
    max_unpacked: int = 100 * 1024 * 1024  # declared decompressed bytes of a DOCX/XLSX/ZIP (zip bombs)
    archive_depth: int = 1  # archives inside archives read this deep (0 = names of the outer one only)
    archive_entries: int = 1000  # member names listed per archive
    tools: dict[str, str] = field(default_factory=dict)  # e.g. {"antiword": "/usr/bin/antiword"}; resolved once


def default_tools() -> dict[str, str]:
    return {name: path for name in ("antiword", "catdoc") if (path := shutil.which(name))}


def result(fmt: str, status: str = "ok", text: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"format": fmt, "status": status, "text": text, "text_truncated": False, **extra}


def _ext(name: str) -> str:
    tail = name.rsplit("/", 1)[-1].split("?", 1)[0].split("#", 1)[0]
    return tail.rsplit(".", 1)[-1].lower() if "." in tail else ""


def sniff(data: bytes, name: str = "", content_type: str = "") -> str:
    """The file's format from its first bytes; the name's extension and the content type only for plain text."""
    head = data[:8]
    if data[:1024].lstrip().startswith(b"%PDF") or b"%PDF-" in data[:1024]:
        return "pdf"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return _zip_kind(data)
    if head == OLE_MAGIC:
        return _ole_kind(data, _ext(name))
    if head.startswith(b"Rar!\x1a\x07"):
        return "rar"
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return "7z"
    if head[:3] == b"\xff\xd8\xff" or head.startswith(b"\x89PNG") or head[:4] in (b"GIF8", b"II*\x00", b"MM\x00*"):
        return "image"
    if head.startswith(b"{\\rtf"):
        return "rtf"
    low = data[:512].lstrip().lower()
    if low.startswith((b"<!doctype html", b"<html")) or b"<html" in low[:200]:
        return "html"
    by_name = _EXTENSIONS.get(_ext(name), "")
    if by_name in ("txt", "csv", "html"):
        return by_name
    if content_type.split(";", 1)[0].strip().lower() in ("text/plain", "text/csv"):
        return "csv" if "csv" in content_type else "txt"
    if b"\x00" not in data[:4096] and by_name in ("", "txt"):
        return "txt"
    return by_name or "unknown"


def _zip_kind(data: bytes) -> str:
    try:
        names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    except (zipfile.BadZipFile, ValueError, OSError):
        return "zip"
    if "word/document.xml" in names:
        return "docx"
    if "xl/workbook.xml" in names:
        return "xlsx"
    if "ppt/presentation.xml" in names:
        return "pptx"
    if "content.xml" in names and "mimetype" in names:
        return "odt"
    return "zip"


def _ole_kind(data: bytes, ext: str) -> str:
    try:
        import olefile

        ole = olefile.OleFileIO(data)
    except Exception:
        return "ole"
    try:
        if ole.exists("EncryptedPackage"):
            return "ooxml_encrypted"
        if ole.exists("Workbook") or ole.exists("Book"):
            return "xls"
        if ole.exists("WordDocument"):
            return "wps" if ext == "wps" else "doc"
        if ole.exists("PowerPoint Document"):
            return "ppt"
        return "wps" if ext == "wps" else "ole"
    finally:
        ole.close()


# ---------------------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------------------


def extract(data: bytes, name: str = "", content_type: str = "", limits: Limits | None = None,
            depth: int = 0) -> dict[str, Any]:
    """The text of ``data`` (see the module docstring for the result). Never raises for a bad file."""
    limits = limits or Limits()
    fmt = sniff(data, name, content_type)
    reader = _READERS.get(fmt)
    if fmt == "ooxml_encrypted":
        return result("docx" if _ext(name) != "xlsx" else "xlsx", "failed:encrypted")
    if reader is None:
        return result(fmt, f"no_text:{fmt}")
    try:
        out = reader(data, name, limits, depth)
    except MemoryError:
        return result(fmt, "failed:memory")
    except Exception as exc:  # a broken file is a status, never a crash of the crawl
        return result(fmt, f"failed:broken:{type(exc).__name__}")
    text = out.get("text")
    if isinstance(text, str):
        text = "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
        text = text.strip("\n")
        if len(text) > limits.max_chars:
            out["text"], out["text_truncated"] = text[: limits.max_chars], True
        else:
            out["text"] = text
    return out


class _Capped:
    """Collects text pieces until ``limit`` characters; ``full`` tells whether more was dropped."""

    def __init__(self, limit: int) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.limit = limit
        self.full = False

    def add(self, text: str) -> bool:
        """False once the cap is reached (callers stop reading)."""
        if self.size >= self.limit:
            self.full = self.full or bool(text)
            return False
        self.parts.append(text)
        self.size += len(text)
        return True

    def text(self, sep: str = "\n") -> str:
        return sep.join(self.parts)


# ---------------------------------------------------------------------------------------------------------
# PDF (pypdfium2)
# ---------------------------------------------------------------------------------------------------------

_PDFIUM_PASSWORD_ERROR = 4


def _pdf(data: bytes, name: str, limits: Limits, depth: int) -> dict[str, Any]:
    import pypdfium2 as pdfium

    try:
        doc = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if getattr(exc, "err_code", None) == _PDFIUM_PASSWORD_ERROR:
            return result("pdf", "failed:encrypted")
        if b"%%EOF" not in data[-2048:]:
            return result("pdf", "failed:truncated")
        return result("pdf", "failed:broken")
    try:
        pages = len(doc)
        out = _Capped(limits.max_chars + 1)
        read = 0
        for index in range(min(pages, limits.max_pages)):
            page = doc[index]
            try:
                textpage = page.get_textpage()
                try:
                    ok = out.add(textpage.get_text_range())
                finally:
                    textpage.close()
            finally:
                page.close()
            read += 1
            if not ok:
                break
    finally:
        doc.close()
    text = out.text()
    res = result("pdf", text=text, pages=pages, needs_ocr=pages > 0 and not "".join(text.split()))
    if pages > read:
        res["text_truncated"] = True
    return res


# ---------------------------------------------------------------------------------------------------------
# ZIP containers: DOCX, XLSX, ODT, ZIP
# ---------------------------------------------------------------------------------------------------------


class ZipBomb(Exception):
    pass


def _open_zip(data: bytes, limits: Limits) -> zipfile.ZipFile:
    archive = zipfile.ZipFile(io.BytesIO(data))
    declared = sum(info.file_size for info in archive.infolist())
    if declared > limits.max_unpacked:
        raise ZipBomb(declared)
    return archive


def _guarded_zip(fmt: str, reader):
    def read(data: bytes, name: str, limits: Limits, depth: int) -> dict[str, Any]:
        try:
            archive = _open_zip(data, limits)
        except ZipBomb:
            return result(fmt, "failed:zip_bomb")
        except zipfile.BadZipFile:
            return result(fmt, "failed:broken")
        with archive:
            if fmt != "zip" and any(info.flag_bits & 0x1 for info in archive.infolist()):
                return result(fmt, "failed:encrypted")  # an archive's names are still listed (_zip)
            return reader(archive, data, name, limits, depth)

    return read


def _xml_parser():
    from lxml import etree

    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                           remove_comments=True, remove_pis=True)


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _docx(archive: zipfile.ZipFile, data: bytes, name: str, limits: Limits, depth: int) -> dict[str, Any]:
    from lxml import etree

    root = etree.fromstring(archive.read("word/document.xml"), _xml_parser())
    out = _Capped(limits.max_chars + 1)
    for para in root.iter(f"{_W}p"):
        pieces = []
        for node in para.iter(f"{_W}t", f"{_W}tab", f"{_W}br", f"{_W}cr"):
            if node.tag == f"{_W}t":
                pieces.append(node.text or "")
            else:
                pieces.append("\t" if node.tag == f"{_W}tab" else "\n")
        if not out.add("".join(pieces)):
            break
    return result("docx", text=out.text())


def _odt(archive: zipfile.ZipFile, data: bytes, name: str, limits: Limits, depth: int) -> dict[str, Any]:
    from lxml import etree

    root = etree.fromstring(archive.read("content.xml"), _xml_parser())
    text_ns = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
    out = _Capped(limits.max_chars + 1)
    for para in root.iter(f"{text_ns}p", f"{text_ns}h"):
        if not out.add("".join(para.itertext())):
            break
    return result("odt", text=out.text())


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _xlsx(archive: zipfile.ZipFile, data: bytes, name: str, limits: Limits, depth: int) -> dict[str, Any]:
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)
    out = _Capped(limits.max_chars + 1)
    try:
        for sheet in book.worksheets:
            if not out.add(f"[{sheet.title}]"):
                break
            for row in sheet.iter_rows(values_only=True):
                line = "\t".join(_cell(v) for v in row).rstrip("\t")
                if line and not out.add(line):
                    break
    finally:
        book.close()
    return result("xlsx", text=out.text())


def _decode_member(info: zipfile.ZipInfo) -> str:
    if info.flag_bits & 0x800:  # the UTF-8 flag: the name is already right
        return info.filename
    try:  # zipfile read cp437; Chinese Windows tools wrote GBK
        return info.filename.encode("cp437").decode("gb18030")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def _zip(archive: zipfile.ZipFile, data: bytes, name: str, limits: Limits, depth: int) -> dict[str, Any]:
    infos = [i for i in archive.infolist() if not i.is_dir()]
    entries = [_decode_member(i) for i in infos[: limits.archive_entries]]
    out = _Capped(limits.max_chars + 1)
    out.add("\n".join(entries))
    if depth < limits.archive_depth:
        for info, member in zip(infos, entries, strict=False):
            if info.flag_bits & 0x1:
                continue
            inner = extract(archive.read(info), member, "", limits, depth + 1)
            if inner.get("text") and not out.add(f"\n【{member}】\n{inner['text']}"):
                break
    locked = bool(infos) and all(info.flag_bits & 0x1 for info in infos)
    res = result("zip", "failed:encrypted" if locked else "ok", text=out.text(), entries=entries)
    if len(infos) > len(entries):
        res["text_truncated"] = True
    return res


# ---------------------------------------------------------------------------------------------------------
# Legacy Office (OLE2): XLS with xlrd, DOC/WPS with antiword/catdoc
# ---------------------------------------------------------------------------------------------------------


def _xls(data: bytes, name: str, limits: Limits, depth: int) -> dict[str, Any]:
    import xlrd

    try:
        book = xlrd.open_workbook(file_contents=data, on_demand=True, formatting_info=False,
                                  logfile=io.StringIO())
    except xlrd.XLRDError as exc:
        return result("xls", "failed:encrypted" if "encrypt" in str(exc).lower() else "failed:broken")
    out = _Capped(limits.max_chars + 1)
    try:
        for index in range(book.nsheets):
            sheet = book.sheet_by_index(index)
            if not out.add(f"[{sheet.name}]"):
                break
            for r in range(sheet.nrows):
                line = "\t".join(_cell(v) for v in sheet.row_values(r)).rstrip("\t")
                if line and not out.add(line):
                    break
            book.unload_sheet(index)
    finally:
        book.release_resources()
    return result("xls", text=out.text())


def _word97(fmt: str):
    def read(data: bytes, name: str, limits: Limits, depth: int) -> dict[str, Any]:
        tools = limits.tools
        with tempfile.NamedTemporaryFile(suffix=f".{fmt}") as handle:
            handle.write(data)
            handle.flush()
            for tool, args in (("antiword", ["-m", "UTF-8.txt", "-w", "0"]), ("catdoc", ["-d", "utf-8", "-w"])):
                if tool not in tools:
                    continue
                proc = subprocess.run([tools[tool], *args, handle.name], capture_output=True, timeout=60,
                                      check=False, stdin=subprocess.DEVNULL)
                if proc.returncode == 0 and proc.stdout.strip():
                    return result(fmt, text=proc.stdout.decode("utf-8", "replace"), tool=tool)
                if b"encrypt" in proc.stderr.lower() or b"password" in proc.stderr.lower():
                    return result(fmt, "failed:encrypted")
        return result(fmt, f"no_text:{fmt}")

    return read


# ---------------------------------------------------------------------------------------------------------
# Plain text, HTML, RAR
# ---------------------------------------------------------------------------------------------------------


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, else GB18030 (a superset of GBK and GB2312)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", "replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", "replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030", "replace")


def _txt(fmt: str):
    def read(data: bytes, name: str, limits: Limits, depth: int) -> dict[str, Any]:
        # at most 4 bytes per character are needed for the kept text
        return result(fmt, text=decode_text(data[: (limits.max_chars + 1) * 4]))

    return read


def _html(data: bytes, name: str, limits: Limits, depth: int) -> dict[str, Any]:
    import lxml.html

    tree = lxml.html.fromstring(data)
    for bad in tree.xpath("//script|//style"):
        bad.drop_tree()
    return result("html", text=tree.text_content())


def _rar(data: bytes, name: str, limits: Limits, depth: int) -> dict[str, Any]:
    try:
        import rarfile
    except ImportError:
        return result("rar", "no_text:rar")
    with rarfile.RarFile(io.BytesIO(data)) as archive:
        if archive.needs_password():
            return result("rar", "failed:encrypted")
        entries = [i.filename for i in archive.infolist() if not i.is_dir()]
    shown = entries[: limits.archive_entries]
    return result("rar", text="\n".join(shown), entries=shown, text_truncated=len(entries) > len(shown))


_READERS = {
    "pdf": _pdf,
    "docx": _guarded_zip("docx", _docx),
    "xlsx": _guarded_zip("xlsx", _xlsx),
    "odt": _guarded_zip("odt", _odt),
    "zip": _guarded_zip("zip", _zip),
    "xls": _xls,
    "doc": _word97("doc"),
    "wps": _word97("wps"),
    "txt": _txt("txt"),
    "csv": _txt("csv"),
    "html": _html,
    "rar": _rar,
}
