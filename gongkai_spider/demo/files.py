"""Attachment files of the demo portal, written with the standard library only (the demo runs without the
test extras): a PDF in the predefined CJK font STSong-Light, a DOCX, an XLSX, a GBK text file and a ZIP.

Each file's text is built from the article it belongs to, so a crawl can be checked against ``text_of``.
Fast enough to make on request: about 0.1 ms per file.
"""

from __future__ import annotations

import io
import zipfile
from xml.sax.saxutils import escape

# Fixed timestamp of ZIP members: the same article always gives the same bytes (the same sha1).
_ZIP_TIME = (2024, 1, 1, 0, 0, 0)


def pdf(lines: list[str]) -> bytes:
    """A one-page PDF whose text layer is ``lines``, in Adobe's predefined STSong-Light CID font (UniGB-UCS2-H):
    any PDF reader maps its codes back to Unicode without an embedded font."""
    text_ops = ["BT", "/F1 12 Tf", "14 TL", "50 780 Td"]
    for line in lines:
        hexed = line.encode("utf-16-be", "replace").hex().upper()
        text_ops.append(f"<{hexed}> Tj T*")
    text_ops.append("ET")
    stream = "\n".join(text_ops).encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> "
        b"/Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /UniGB-UCS2-H "
        b"/DescendantFonts [6 0 R] >>",
        b"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light "
        b"/CIDSystemInfo << /Registry (Adobe) /Ordering (GB1) /Supplement 2 >> /FontDescriptor 7 0 R /DW 1000 >>",
        b"<< /Type /FontDescriptor /FontName /STSong-Light /Flags 6 /FontBBox [-25 -254 1000 880] "
        b"/ItalicAngle 0 /Ascent 880 /Descent -120 /CapHeight 880 /StemV 93 >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def _zip(members: dict[str, str | bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data.encode("utf-8") if isinstance(data, str) else data)
    return out.getvalue()


_RELS = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
         '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
         '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
         'officeDocument" Target="{target}"/></Relationships>')


def docx(paragraphs: list[str]) -> bytes:
    body = "".join(f"<w:p><w:r><w:t>{escape(p)}</w:t></w:r></w:p>" for p in paragraphs)
    return _zip({
        "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
        'package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/'
        'document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
        "</Types>",
        "_rels/.rels": _RELS.format(target="word/document.xml"),
        "word/document.xml": '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="http://'
        f'schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>{body}</w:body></w:document>',
    })


def _col(index: int) -> str:
    return chr(ord("A") + index)


def xlsx(sheet_name: str, rows: list[list[str | int | float]]) -> bytes:
    cells = []
    for r, row in enumerate(rows, 1):
        values = "".join(
            f'<c r="{_col(c)}{r}"><v>{value}</v></c>' if isinstance(value, (int, float))
            else f'<c r="{_col(c)}{r}" t="inlineStr"><is><t>{escape(str(value))}</t></is></c>'
            for c, value in enumerate(row))
        cells.append(f'<row r="{r}">{values}</row>')
    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel_ns = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
    return _zip({
        "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
        'package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/'
        'workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        'spreadsheetml.worksheet+xml"/></Types>',
        "_rels/.rels": _RELS.format(target="xl/workbook.xml"),
        "xl/workbook.xml": f'<?xml version="1.0" encoding="UTF-8"?><workbook {ns} {rel_ns}><sheets>'
        f'<sheet name="{escape(sheet_name)}" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
        'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.'
        'org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
        "xl/worksheets/sheet1.xml": f'<?xml version="1.0" encoding="UTF-8"?><worksheet {ns}><sheetData>'
        f'{"".join(cells)}</sheetData></worksheet>',
    })


def gbk_txt(lines: list[str]) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode("gbk", "replace")


def zip_of(members: dict[str, bytes]) -> bytes:
    return _zip(dict(members))


# format -> (file extension, Content-Type served)
FORMATS: dict[str, tuple[str, str]] = {
    "pdf": ("pdf", "application/pdf"),
    "docx": ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    "xlsx": ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "txt": ("txt", "text/plain"),
    "zip": ("zip", "application/zip"),
}


def make(fmt: str, title: str, lines: list[str]) -> bytes:
    """The attachment of format ``fmt`` for an article titled ``title`` whose file says ``lines``."""
    if fmt == "pdf":
        return pdf([title, *lines])
    if fmt == "docx":
        return docx([title, *lines])
    if fmt == "xlsx":
        return xlsx("明细表", [["序号", "事项"], *[[i, line] for i, line in enumerate(lines, 1)]])
    if fmt == "txt":
        return gbk_txt([title, *lines])
    if fmt == "zip":
        return zip_of({"说明.txt": gbk_txt([title, *lines])})
    raise ValueError(f"unknown demo attachment format: {fmt}")
