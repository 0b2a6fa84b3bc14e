"""Attachment files the tests generate (our own Chinese text): PDF with an embedded CJK font, DOCX, XLSX, XLS,
GBK TXT, encrypted and truncated PDFs, a zip-bomb DOCX, a ZIP with GBK member names, a large file.

Not a test module. The embedded-font PDF needs a CJK TrueType font (Debian ``fonts-wqy-microhei``, installed
by .ci/run); ``cid_pdf`` uses reportlab's built-in STSong-Light (not embedded) and needs none.
"""

from __future__ import annotations

import io
import os
import zipfile

CJK_FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"

PDF_LINES = (
    "关于做好二〇二四年度政府信息公开工作年度报告编制的通知",
    "各区县人民政府，市政府各部门：",
    "为进一步规范年度报告的编制和发布，现将有关事项通知如下。",
    "一、报告应当包括主动公开政府信息情况、收到和处理政府信息公开申请情况。",
    "二、各单位于三月三十一日前在门户网站公布本机关年度报告。",
    "联系电话：０５７１－８７６５４３２１",
)
DOCX_PARAGRAPHS = ("青禾县农业农村局关于春耕备耕物资保障的实施方案", "一、保障化肥、种子、农膜等物资供应。",
                   "二、建立价格监测点二十六个，每周报送一次。")
XLSX_ROWS = (("序号", "项目名称", "预算金额（万元）"), (1, "乡村道路养护", 128.5), (2, "农村饮水安全巩固", 76))
XLS_ROWS = (("姓名", "拟任职务"), ("林晓岚", "县审计局副局长"), ("周明远", "县统计局局长"))
TXT_TEXT = "白沙镇二〇二四年度惠农补贴发放名单公示\n公示期：五个工作日\n监督电话：０７３１－５５５６６７７\n"


def pdf(lines: tuple[str, ...] = PDF_LINES, pages: int = 2, font: str = "wqy") -> bytes:
    """A text PDF; ``font='wqy'`` embeds a subset of a CJK TrueType font, ``'cid'`` uses STSong-Light."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfgen import canvas

    if font == "wqy":
        from reportlab.pdfbase.ttfonts import TTFont

        if "WQY" not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont("WQY", CJK_FONT, subfontIndex=0))
        name = "WQY"
    else:
        from reportlab.pdfbase.cidfonts import UnicodeCIDFont

        pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
        name = "STSong-Light"
    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    for _ in range(pages):
        c.setFont(name, 12)
        y = 800
        for line in lines:
            c.drawString(40, y, line)
            y -= 20
        c.showPage()
    c.save()
    return buf.getvalue()


def scanned_pdf(pages: int = 2) -> bytes:
    """Pages with only a drawing on them: no text layer, what a scan looks like to a text extractor."""
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    for _ in range(pages):
        c.rect(50, 50, 400, 600, fill=1)
        c.showPage()
    c.save()
    return buf.getvalue()


def encrypted_pdf(password: str = "mima2024") -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf(font="cid"))))
    writer.encrypt(user_password=password, owner_password="owner-" + password, algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def truncated_pdf() -> bytes:
    data = pdf(font="cid")
    return data[: len(data) // 2]


def docx(paragraphs: tuple[str, ...] = DOCX_PARAGRAPHS) -> bytes:
    import docx as python_docx

    document = python_docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "责任单位", "县供销社"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def zip_bomb_docx(unpacked: int = 150 * 1024 * 1024) -> bytes:
    """A valid-looking DOCX whose document.xml inflates to ``unpacked`` bytes (it compresses ~1000:1)."""
    real = zipfile.ZipFile(io.BytesIO(docx()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as bomb:
        for info in real.infolist():
            if info.filename != "word/document.xml":
                bomb.writestr(info.filename, real.read(info))
        head = b'<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
        with bomb.open("word/document.xml", "w", force_zip64=True) as member:
            member.write(head)
            chunk = b" " * (1 << 20)
            for _ in range(unpacked // len(chunk)):
                member.write(chunk)
            member.write(b"</w:body></w:document>")
    return out.getvalue()


def xlsx(rows=XLSX_ROWS) -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "预算表"
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def xls(rows=XLS_ROWS) -> bytes:
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("任前公示")
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            sheet.write(r, c, value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def gbk_txt(text: str = TXT_TEXT) -> bytes:
    return text.encode("gbk")


class _GbkName(zipfile.ZipInfo):
    def _encodeFilenameFlags(self):  # what zipfile calls to encode the name; GBK, no UTF-8 flag
        return self.filename.encode("gbk"), self.flag_bits


def zip_with_gbk_names() -> bytes:
    """A ZIP as Chinese Windows tools write it: member names in GBK without the UTF-8 flag."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in (("附件1：申报表.txt", gbk_txt("申报单位：青禾县文化馆")), ("附件2：名单.txt", gbk_txt("王小川"))):
            info = _GbkName(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return out.getvalue()


def big_file(size: int = 60 * 1024 * 1024) -> bytes:
    """``size`` bytes starting like a PDF (a 60 MB scan, say)."""
    return b"%PDF-1.4\n" + os.urandom(1024) * (size // 1024)


def ole_with_stream(name: str) -> bytes:
    """An OLE2 compound file whose one stream is called ``name`` (xlwt's XLS with its stream renamed): what a
    legacy Word file ("WordDocument") or a password-protected DOCX/XLSX ("EncryptedPackage") looks like from
    outside."""
    data = bytearray(xls())
    at = data.find("Workbook".encode("utf-16-le"))
    encoded = name.encode("utf-16-le") + b"\x00\x00"
    assert len(encoded) <= 64
    data[at:at + 64] = encoded.ljust(64, b"\x00")
    data[at + 64:at + 66] = len(encoded).to_bytes(2, "little")  # the directory entry's name length
    return bytes(data)
