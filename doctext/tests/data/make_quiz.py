#!/usr/bin/env python3
"""Writes the Korean quiz deck of ../shared/testdata/docs/base/quiz_ko.docx in the formats
doctext reads besides Office/Hangul binaries/PDF: hwpx, odt, ods, odp, csv (UTF-8 with a
BOM, CP949), tsv, txt (question lines, and Excel's "Unicode text": UTF-16 LE tab-separated),
md, and a zip holding some of them.

    python3 doctext/tests/data/make_quiz.py     (writes next to this script)

Standard library only; the XML is written by hand, following ODF 1.3 (mimetype first and
stored, META-INF/manifest.xml) and OWPML / HWPX as Hangul writes it (mimetype
"application/hwp+zip" first and stored, version.xml, META-INF/container.xml,
Contents/content.hpf with manifest and spine, Contents/header.xml, Contents/sectionN.xml).
Zip entries carry a fixed date, so the output is the same on every run.

The table is the docx's own (read with `doctext --json base/quiz_ko.docx`): a header row
번호 / 문제 / 정답 / 오답1 / 오답2 and 20 questions. The tests in doctext/tests/formats.rs
import every file as a deck and compare it with the docx's deck.
"""

import os
import zipfile
from xml.sax.saxutils import escape

HERE = os.path.dirname(os.path.abspath(__file__))

TITLE = "한국 상식 퀴즈 덱 (Korean Trivia Deck)"
INTRO = [
    "이 문서는 게임 클라이언트의 퀴즈 가져오기 테스트용입니다.",
    "Mixed script line: ABC 123 가나다 漢字 テスト ü é ß.",
    "특수 문자 확인: “따옴표” ‘작은따옴표’ — 대시 … 말줄임 ① ② ③.",
    "Emoji outside the BMP: 🎮 게임 🏆 트로피.",
]
END = "끝. 수고하셨습니다."
HEADER = ["번호", "문제", "정답", "오답1", "오답2"]
QUESTIONS = [
    ("대한민국의 수도는?", "서울", "부산", "인천"),
    ("한글을 창제한 왕은?", "세종대왕", "태조", "정조"),
    ("태양계에서 가장 큰 행성은?", "목성", "토성", "지구"),
    ("물의 화학식은?", "H2O", "CO2", "O2"),
    ("1 더하기 1은?", "2", "3", "11"),
    ("임진왜란이 일어난 해는?", "1592년", "1392년", "1910년"),
    ("김치의 주재료는?", "배추", "사과", "감자"),
    ("독도가 있는 바다는?", "동해", "서해", "남해"),
    ("남한에서 가장 높은 산은?", "한라산", "지리산", "설악산"),
    ("영어 apple의 뜻은?", "사과", "배", "포도"),
    ("거북선을 만든 장군은?", "이순신", "강감찬", "을지문덕"),
    ("평년의 1년은 며칠?", "365일", "360일", "366일"),
    ("태극기의 괘는 몇 개?", "4개", "3개", "8개"),
    ("지구에서 가장 큰 바다는?", "태평양", "대서양", "인도양"),
    ("훈민정음 반포 연도는?", "1446년", "1443년", "1500년"),
    ("축구 한 팀의 선수 수는?", "11명", "9명", "12명"),
    ("대한민국의 국화는?", "무궁화", "진달래", "장미"),
    ("원주율의 근삿값은?", "3.14", "2.71", "1.41"),
    ("Hello를 한국어로?", "안녕하세요", "감사합니다", "미안합니다"),
    ("Tom & Jerry <고양이>는?", "톰", "제리", "스파이크"),
]
ROWS = [HEADER] + [[str(i + 1), *q] for i, q in enumerate(QUESTIONS)]

FIXED_DATE = (2026, 12, 4, 12, 0, 0)


def x(s):
    return escape(s, {'"': "&quot;"})


def write_zip(path, entries):
    """entries: (name, bytes or str, stored?) in order."""
    with zipfile.ZipFile(path, "w") as z:
        for name, data, stored in entries:
            info = zipfile.ZipInfo(name, FIXED_DATE)
            info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, data.encode("utf-8") if isinstance(data, str) else data)


# ---------------------------------------------------------------- delimited text

def delimited(rows, delim, quote_all=False):
    def field(c):
        needs = quote_all or any(ch in c for ch in (delim, '"', "\n", "\r"))
        return '"' + c.replace('"', '""') + '"' if needs else c

    return "".join(delim.join(field(c) for c in r) + "\r\n" for r in rows)


def answer_slot(prompt, n):
    """shared::deck's placement of the right answer among n choices (FNV-1a of the text)."""
    h = 0x811C9DC5
    for b in prompt.encode("utf-8"):
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h % n


def question_lines():
    """The quiz as `1. question` / `A) choice` / `정답: B` lines, choices in the order the
    table layout puts them, so both read as the same deck."""
    out = [TITLE, *INTRO, ""]
    for i, (prompt, right, *wrong) in enumerate(QUESTIONS):
        slot = answer_slot(prompt, len(wrong) + 1)
        choices = list(wrong)
        choices.insert(slot, right)
        out.append(f"{i + 1}. {prompt}")
        out += [f"{'ABCD'[k]}) {c}" for k, c in enumerate(choices)]
        out += [f"정답: {'ABCD'[slot]}", ""]
    out.append(END)
    return "\r\n".join(out) + "\r\n"


def markdown():
    out = [f"# {TITLE}", "", f"> {INTRO[0]}", "", f"**{INTRO[1]}**", "", INTRO[2], "", INTRO[3], ""]
    out.append("| " + " | ".join(HEADER) + " |")
    out.append("|:---:|:---|:---|:---|:---|")
    for r in ROWS[1:]:
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
    out += ["", "---", "", END, ""]
    return "\n".join(out)


# ---------------------------------------------------------------- OpenDocument

ODF_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
    'xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" '
    'xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" '
    'xmlns:presentation="urn:oasis:names:tc:opendocument:xmlns:presentation:1.0" '
    'xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:xlink="http://www.w3.org/1999/xlink" '
    'office:version="1.3"'
)


def odf_package(path, mime, body, automatic_styles=""):
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<office:document-content {ODF_NS}>"
        f"<office:automatic-styles>{automatic_styles}</office:automatic-styles>"
        f"<office:body>{body}</office:body></office:document-content>"
    )
    # The page layout and the "Default" master page every draw:page names.
    styles = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<office:document-styles {ODF_NS}><office:styles>"
        '<style:default-style style:family="paragraph"><style:text-properties fo:font-size="11pt"/></style:default-style>'
        '<style:style style:name="Heading_1" style:display-name="Heading 1" style:family="paragraph"><style:text-properties fo:font-size="16pt" fo:font-weight="bold"/></style:style>'
        "</office:styles>"
        '<office:automatic-styles><style:page-layout style:name="PM1"><style:page-layout-properties fo:page-width="21cm" fo:page-height="29.7cm"/></style:page-layout></office:automatic-styles>'
        '<office:master-styles><style:master-page style:name="Default" style:page-layout-name="PM1"/></office:master-styles>'
        "</office:document-styles>"
    )
    meta = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<office:document-meta {ODF_NS}><office:meta>"
        f"<dc:title>{x(TITLE)}</dc:title><dc:language>ko-KR</dc:language>"
        "<meta:generator>PoseParty doctext/tests/data/make_quiz.py</meta:generator>"
        "</office:meta></office:document-meta>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.3">'
        f'<manifest:file-entry manifest:full-path="/" manifest:version="1.3" manifest:media-type="{mime}"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        '<manifest:file-entry manifest:full-path="styles.xml" manifest:media-type="text/xml"/>'
        '<manifest:file-entry manifest:full-path="meta.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    write_zip(
        path,
        [
            ("mimetype", mime, True),
            ("content.xml", content, False),
            ("styles.xml", styles, False),
            ("meta.xml", meta, False),
            ("META-INF/manifest.xml", manifest, False),
        ],
    )


def odf_cell(c, numeric_ok=True):
    if numeric_ok and c.isdigit():
        return f'<table:table-cell office:value-type="float" office:value="{c}"><text:p>{c}</text:p></table:table-cell>'
    return f'<table:table-cell office:value-type="string"><text:p>{x(c)}</text:p></table:table-cell>'


def odf_table(name, rows, numeric_ok=False):
    cols = max(len(r) for r in rows)
    out = [f'<table:table table:name="{x(name)}"><table:table-column table:number-columns-repeated="{cols}"/>']
    out.append("<table:table-header-rows>")
    out.append("<table:table-row>" + "".join(odf_cell(c, False) for c in rows[0]) + "</table:table-row>")
    out.append("</table:table-header-rows>")
    for r in rows[1:]:
        out.append("<table:table-row>" + "".join(odf_cell(c, numeric_ok) for c in r) + "</table:table-row>")
    out.append("</table:table>")
    return "".join(out)


def odt():
    body = [f'<text:h text:style-name="Heading_1" text:outline-level="1">{x(TITLE)}</text:h>']
    body += [f"<text:p>{x(p)}</text:p>" for p in INTRO]
    body.append(odf_table("퀴즈", ROWS))
    body.append(f"<text:p>{x(END)}</text:p>")
    odf_package(
        os.path.join(HERE, "quiz_ko.odt"),
        "application/vnd.oasis.opendocument.text",
        "<office:text><text:sequence-decls/>" + "".join(body) + "</office:text>",
    )


def ods():
    # As a spreadsheet writes it: the title in A1, a blank row, the table with numbers as
    # floats, then the sheet's remaining empty columns and rows as repeats.
    cols = len(HEADER)
    rows = [
        "<table:table-row>" + odf_cell(TITLE, False) + f'<table:table-cell table:number-columns-repeated="{16384 - 1}"/></table:table-row>',
        f'<table:table-row><table:table-cell table:number-columns-repeated="16384"/></table:table-row>',
    ]
    for i, r in enumerate(ROWS):
        cells = "".join(odf_cell(c, i > 0) for c in r)
        rows.append(f'<table:table-row>{cells}<table:table-cell table:number-columns-repeated="{16384 - cols}"/></table:table-row>')
    rows.append(f'<table:table-row table:number-rows-repeated="{1048576 - len(rows)}"><table:table-cell table:number-columns-repeated="16384"/></table:table-row>')
    sheet = (
        '<table:table table:name="퀴즈">'
        f'<table:table-column table:number-columns-repeated="{cols}"/>'
        f'<table:table-column table:number-columns-repeated="{16384 - cols}"/>'
        + "".join(rows)
        + "</table:table>"
    )
    empty = '<table:table table:name="메모"><table:table-column/><table:table-row><table:table-cell/></table:table-row></table:table>'
    odf_package(
        os.path.join(HERE, "quiz_ko.ods"),
        "application/vnd.oasis.opendocument.spreadsheet",
        "<office:spreadsheet>" + sheet + empty + "</office:spreadsheet>",
    )


def odp():
    def frame(cls, paras, y):
        ps = "".join(f"<text:p>{x(p)}</text:p>" for p in paras)
        return (
            f'<draw:frame presentation:class="{cls}" svg:x="1cm" svg:y="{y}cm" svg:width="26cm" svg:height="3cm">'
            f"<draw:text-box>{ps}</draw:text-box></draw:frame>"
        )

    slides = [
        '<draw:page draw:name="표지" draw:master-page-name="Default">'
        + frame("title", [TITLE], 1)
        + frame("outline", INTRO, 5)
        + "</draw:page>",
        '<draw:page draw:name="문제" draw:master-page-name="Default">'
        + '<draw:frame svg:x="1cm" svg:y="1cm" svg:width="26cm" svg:height="17cm"><svg:title>퀴즈 표</svg:title>'
        + odf_table("퀴즈", ROWS)
        + "</draw:frame>"
        + '<presentation:notes><draw:frame presentation:class="notes"><draw:text-box><text:p>발표자 메모: 표 한 줄이 한 문제입니다.</text:p></draw:text-box></draw:frame></presentation:notes>'
        + "</draw:page>",
        '<draw:page draw:name="끝" draw:master-page-name="Default">' + frame("title", [END], 8) + "</draw:page>",
    ]
    odf_package(
        os.path.join(HERE, "quiz_ko.odp"),
        "application/vnd.oasis.opendocument.presentation",
        "<office:presentation>" + "".join(slides) + "</office:presentation>",
    )


# ---------------------------------------------------------------- HWPX (OWPML)

HWPX_NS = (
    'xmlns:ha="http://www.hancom.co.kr/hwpml/2011/app" '
    'xmlns:hp="http://www.hancom.co.kr/hwpml/2011/paragraph" '
    'xmlns:hs="http://www.hancom.co.kr/hwpml/2011/section" '
    'xmlns:hc="http://www.hancom.co.kr/hwpml/2011/core" '
    'xmlns:hh="http://www.hancom.co.kr/hwpml/2011/head" '
    'xmlns:hpf="http://www.hancom.co.kr/schema/2011/hpf" '
    'xmlns:opf="http://www.idpf.org/2007/opf/"'
)

_pid = [0]


def hp_p(inner_run, style=0):
    _pid[0] += 1
    return (
        f'<hp:p id="{_pid[0]}" paraPrIDRef="{style}" styleIDRef="{style}" pageBreak="0" columnBreak="0" merged="0">'
        f'<hp:run charPrIDRef="0">{inner_run}</hp:run>'
        '<hp:linesegarray><hp:lineseg textpos="0" vertpos="0" vertsize="1000" textheight="1000" baseline="850" spacing="600" horzpos="0" horzsize="42520" flags="393216"/></hp:linesegarray>'
        "</hp:p>"
    )


def hp_text(s):
    return f"<hp:t>{x(s)}</hp:t>"


def hwpx_table(rows):
    n_rows, n_cols = len(rows), len(rows[0])
    out = [
        f'<hp:tbl id="1000" zOrder="0" numberingType="TABLE" textWrap="TOP_AND_BOTTOM" textFlow="BOTH_SIDES" lock="0" dropcapstyle="None" pageBreak="CELL" repeatHeader="1" rowCnt="{n_rows}" colCnt="{n_cols}" cellSpacing="0" borderFillIDRef="2" noAdjust="0">',
        '<hp:sz width="42520" widthRelTo="ABSOLUTE" height="20000" heightRelTo="ABSOLUTE" protect="0"/>',
        '<hp:pos treatAsChar="0" affectLSpacing="0" flowWithText="1" allowOverlap="0" holdAnchorAndSO="0" vertRelTo="PARA" horzRelTo="COLUMN" vertAlign="TOP" horzAlign="LEFT" vertOffset="0" horzOffset="0"/>',
        '<hp:outMargin left="283" right="283" top="283" bottom="283"/><hp:inMargin left="510" right="510" top="141" bottom="141"/>',
    ]
    for ri, r in enumerate(rows):
        out.append("<hp:tr>")
        for ci, c in enumerate(r):
            out.append(
                f'<hp:tc name="" header="{1 if ri == 0 else 0}" hasMargin="0" protect="0" editable="0" dirty="0" borderFillIDRef="2">'
                '<hp:subList id="" textDirection="HORIZONTAL" lineWrap="BREAK" vertAlign="CENTER" linkListIDRef="0" linkListNextIDRef="0" textWidth="0" textHeight="0" hasTextRef="0" hasNumRef="0">'
                + hp_p(hp_text(c))
                + "</hp:subList>"
                f'<hp:cellAddr colAddr="{ci}" rowAddr="{ri}"/><hp:cellSpan colSpan="1" rowSpan="1"/>'
                '<hp:cellSz width="8504" height="1000"/><hp:cellMargin left="510" right="510" top="141" bottom="141"/>'
                "</hp:tc>"
            )
        out.append("</hp:tr>")
    out.append("</hp:tbl>")
    return "".join(out)


def hwpx():
    _pid[0] = 0
    sec_pr = (
        '<hp:secPr id="" textDirection="HORIZONTAL" spaceColumns="1134" tabStop="8000" outlineShapeIDRef="1" memoShapeIDRef="0" textVerticalWidthHead="0" masterPageCnt="0">'
        '<hp:pagePr landscape="WIDELY" width="59528" height="84186" gutterType="LEFT_ONLY"><hp:margin header="4252" footer="4252" gutter="0" left="8504" right="8504" top="5668" bottom="4252"/></hp:pagePr>'
        "</hp:secPr>"
        '<hp:ctrl><hp:colPr id="" type="NEWSPAPER" layout="LEFT" colCount="1" sameSz="1" sameGap="0"/></hp:ctrl>'
    )
    # A page header, as Hangul writes it into the first paragraph: page furniture, not text.
    header_ctrl = (
        '<hp:ctrl><hp:header id="1" applyPageType="BOTH"><hp:subList id="" textDirection="HORIZONTAL" lineWrap="BREAK" vertAlign="TOP">'
        + hp_p(hp_text("머리말: 상식 퀴즈"))
        + "</hp:subList></hp:header></hp:ctrl>"
    )
    paras = [hp_p(sec_pr + header_ctrl + hp_text(TITLE), style=1)]
    paras += [hp_p(hp_text(p)) for p in INTRO]
    paras.append(hp_p(hwpx_table(ROWS) + "<hp:t/>"))
    section0 = f'<?xml version="1.0" encoding="UTF-8" standalone="yes" ?><hs:sec {HWPX_NS}>' + "".join(paras) + "</hs:sec>"
    section1 = f'<?xml version="1.0" encoding="UTF-8" standalone="yes" ?><hs:sec {HWPX_NS}>' + hp_p(hp_text(END)) + "</hs:sec>"
    header = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes" ?><hh:head {HWPX_NS} version="1.4" secCnt="2">'
        '<hh:beginNum page="1" footnote="1" endnote="1" pic="1" tbl="1" equation="1"/>'
        '<hh:refList>'
        # borderFillIDRef 1 (page) and 2 (table cells, solid lines), tabPrIDRef 0.
        '<hh:borderFills itemCnt="2">'
        '<hh:borderFill id="1" threeD="0" shadow="0" centerLine="NONE" breakCellSeparateLine="0"><hh:leftBorder type="NONE" width="0.1 mm" color="#000000"/><hh:rightBorder type="NONE" width="0.1 mm" color="#000000"/><hh:topBorder type="NONE" width="0.1 mm" color="#000000"/><hh:bottomBorder type="NONE" width="0.1 mm" color="#000000"/></hh:borderFill>'
        '<hh:borderFill id="2" threeD="0" shadow="0" centerLine="NONE" breakCellSeparateLine="0"><hh:leftBorder type="SOLID" width="0.12 mm" color="#000000"/><hh:rightBorder type="SOLID" width="0.12 mm" color="#000000"/><hh:topBorder type="SOLID" width="0.12 mm" color="#000000"/><hh:bottomBorder type="SOLID" width="0.12 mm" color="#000000"/></hh:borderFill>'
        "</hh:borderFills>"
        '<hh:fontfaces itemCnt="1"><hh:fontface lang="HANGUL" fontCnt="1"><hh:font id="0" face="함초롬바탕" type="TTF" isEmbedded="0"/></hh:fontface></hh:fontfaces>'
        '<hh:charProperties itemCnt="1"><hh:charPr id="0" height="1000" textColor="#000000" shadeColor="none" useFontSpace="0" useKerning="0" symMark="NONE" borderFillIDRef="2"/></hh:charProperties>'
        '<hh:tabProperties itemCnt="1"><hh:tabPr id="0" autoTabLeft="0" autoTabRight="0"/></hh:tabProperties>'
        '<hh:paraProperties itemCnt="2"><hh:paraPr id="0" tabPrIDRef="0" condense="0"/><hh:paraPr id="1" tabPrIDRef="0" condense="0"/></hh:paraProperties>'
        '<hh:styles itemCnt="2"><hh:style id="0" type="PARA" name="바탕글" engName="Normal" paraPrIDRef="0" charPrIDRef="0" nextStyleIDRef="0" langID="1042" lockForm="0"/>'
        '<hh:style id="1" type="PARA" name="제목" engName="Title" paraPrIDRef="1" charPrIDRef="0" nextStyleIDRef="0" langID="1042" lockForm="0"/></hh:styles>'
        "</hh:refList></hh:head>"
    )
    hpf = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes" ?>'
        f'<opf:package {HWPX_NS} version="" unique-identifier="" id="">'
        f"<opf:metadata><opf:title>{x(TITLE)}</opf:title><opf:language>ko</opf:language></opf:metadata>"
        "<opf:manifest>"
        '<opf:item id="header" href="Contents/header.xml" media-type="application/xml"/>'
        '<opf:item id="section0" href="Contents/section0.xml" media-type="application/xml"/>'
        '<opf:item id="section1" href="Contents/section1.xml" media-type="application/xml"/>'
        '<opf:item id="settings" href="settings.xml" media-type="application/xml"/>'
        "</opf:manifest><opf:spine>"
        '<opf:itemref idref="header" linear="yes"/><opf:itemref idref="section0" linear="yes"/><opf:itemref idref="section1" linear="yes"/>'
        "</opf:spine></opf:package>"
    )
    version = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes" ?>'
        '<hv:HCFVersion xmlns:hv="http://www.hancom.co.kr/hwpml/2011/version" tagetApplication="WORDPROCESSOR" '
        'major="5" minor="1" micro="1" buildNumber="0" os="1" xmlVersion="1.4" application="Hancom Office Hangul" appVersion="12, 0, 0, 0"/>'
    )
    container = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes" ?>'
        '<ocf:container xmlns:ocf="urn:oasis:names:tc:opendocument:xmlns:container" xmlns:hpf="http://www.hancom.co.kr/schema/2011/hpf">'
        '<ocf:rootfiles><ocf:rootfile full-path="Contents/content.hpf" media-type="application/hwpml-package+xml"/>'
        '<ocf:rootfile full-path="Preview/PrvText.txt" media-type="text/plain"/></ocf:rootfiles></ocf:container>'
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes" ?>'
        '<odf:manifest xmlns:odf="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"/>'
    )
    settings = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes" ?>'
        '<ha:HWPApplicationSetting xmlns:ha="http://www.hancom.co.kr/hwpml/2011/app" xmlns:config="urn:oasis:names:tc:opendocument:xmlns:config:1.0">'
        '<ha:CaretPosition listIDRef="0" paraIDRef="0" pos="0"/></ha:HWPApplicationSetting>'
    )
    preview = "\r\n".join([TITLE, *INTRO])[:1000]
    write_zip(
        os.path.join(HERE, "quiz_ko.hwpx"),
        [
            ("mimetype", "application/hwp+zip", True),
            ("version.xml", version, False),
            ("Contents/header.xml", header, False),
            ("Contents/section0.xml", section0, False),
            ("Contents/section1.xml", section1, False),
            ("Preview/PrvText.txt", preview, False),
            ("settings.xml", settings, False),
            ("META-INF/container.xml", container, False),
            ("META-INF/manifest.xml", manifest, False),
            ("Contents/content.hpf", hpf, False),
        ],
    )


def main():
    with open(os.path.join(HERE, "quiz_ko.csv"), "wb") as f:
        f.write(b"\xef\xbb\xbf" + delimited(ROWS, ",").encode("utf-8"))
    # Korean Excel's "CSV (쉼표로 분리)": CP949, the title in the first row, quotes only
    # where needed; here every field is quoted, as some exporters do.
    with open(os.path.join(HERE, "quiz_ko_cp949.csv"), "wb") as f:
        f.write(delimited([[TITLE], *ROWS], ",", quote_all=True).encode("cp949"))
    with open(os.path.join(HERE, "quiz_ko.tsv"), "wb") as f:
        f.write(delimited(ROWS, "\t").encode("utf-8"))
    # Excel's "유니코드 텍스트" (Unicode text): UTF-16 LE with a BOM, tab-separated, .txt.
    with open(os.path.join(HERE, "quiz_ko_utf16.txt"), "wb") as f:
        f.write(b"\xff\xfe" + delimited(ROWS, "\t").encode("utf-16-le"))
    with open(os.path.join(HERE, "quiz_ko.txt"), "wb") as f:
        f.write(question_lines().encode("utf-8"))
    with open(os.path.join(HERE, "quiz_ko.md"), "wb") as f:
        f.write(markdown().encode("utf-8"))
    odt()
    ods()
    odp()
    hwpx()
    bundle = [
        ("한글/퀴즈.hwpx", "quiz_ko.hwpx"),
        ("quiz_ko.odt", "quiz_ko.odt"),
        ("엑셀/퀴즈.csv", "quiz_ko_cp949.csv"),
        ("notes/quiz_ko.md", "quiz_ko.md"),
    ]
    entries = []
    for name, src in bundle:
        with open(os.path.join(HERE, src), "rb") as f:
            entries.append((name, f.read(), False))
    write_zip(os.path.join(HERE, "quiz_ko_new_formats.zip"), entries)


if __name__ == "__main__":
    main()
