#!/usr/bin/env python3
"""Writes routine_ko.docx: a small Word file with a pose-routine deck, as a party host would
type it (a title, then one table: a true/false question and two routines with step times).
Standard library only; rerun to regenerate: python3 make_routine_deck.py"""
import zipfile
from xml.sax.saxutils import escape

TITLE = "아침 체조 루틴 (Morning routine)"
ROWS = [
    ["질문", "보기1", "보기2", "정답", "", ""],
    ["아침 체조를 하면 기분이 좋아진다", "O", "", "", "", ""],
    ["루틴", "아침 체조", "만세 4초", "T 포즈 4초", "스쿼트 5초", "별 모양"],
    ["루틴", "쿨다운", "왼팔 들기", "오른팔 들기", "", ""],
]

W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def para(text):
    return f'<w:p><w:r><w:t xml:space="preserve">{escape(text)}</w:t></w:r></w:p>'


def table(rows):
    out = ["<w:tbl><w:tblPr><w:tblW w:w=\"0\" w:type=\"auto\"/></w:tblPr>"]
    for row in rows:
        out.append("<w:tr>")
        for cell in row:
            out.append(f"<w:tc><w:tcPr><w:tcW w:w=\"1500\" w:type=\"dxa\"/></w:tcPr>{para(cell)}</w:tc>")
        out.append("</w:tr>")
    out.append("</w:tbl>")
    return "".join(out)


document = (
    f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document {W}><w:body>'
    + para(TITLE)
    + table(ROWS)
    + para("")
    + "<w:sectPr/></w:body></w:document>"
)
content_types = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
    "</Types>"
)
rels = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="word/document.xml"/></Relationships>'
)

with zipfile.ZipFile("routine_ko.docx", "w", zipfile.ZIP_DEFLATED) as z:
    # Fixed timestamps, so a rerun writes the same bytes.
    for name, data in [("[Content_Types].xml", content_types), ("_rels/.rels", rels), ("word/document.xml", document)]:
        info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, data)
