"""Files that break readers: corrupt or explosive workbooks, deeply nested XML, endless CSV lines.

Each maker writes one file and returns its path; sizes are those reported against the
agent (a 543 KB workbook whose shared strings expand to 193 MB, 40 KB of XML nested
5,000 deep)."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import openpyxl

HEADER = ["UPRN", "USRN", "PAON", "STREET", "TOWN", "POSTCODE", "X", "Y", "STATUS", "UPDATED"]


def good_workbook_bytes() -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    for n in range(50):
        sheet.append([906000000 + n, 8400000, n + 1, "High Street", "Edinburgh", "EH1 1YJ", 325000, 673000, "A",
                      "2026-01-10"])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _rewrite(source: bytes, target: Path, replace: dict[str, bytes | None], compress=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(io.BytesIO(source)) as old, zipfile.ZipFile(target, "w", compress) as new:
        for info in old.infolist():
            data = replace.get(info.filename, old.read(info.filename))
            if data is not None:
                new.writestr(info.filename, data)
    return target


def corrupt_deflate_xlsx(path: Path) -> Path:
    """A workbook whose sheet's compressed bytes are damaged: zlib.error (or a bad CRC) on reading."""
    raw = bytearray(good_workbook_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(raw))) as archive:
        info = archive.getinfo("xl/worksheets/sheet1.xml")
    # The member's data starts after its 30-byte local header, name and extra field.
    name_length = int.from_bytes(raw[info.header_offset + 26:info.header_offset + 28], "little")
    extra_length = int.from_bytes(raw[info.header_offset + 28:info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_length + extra_length
    for offset in range(start + 8, start + info.compress_size - 8):
        raw[offset] = 0xFF if offset % 3 else 0x07
    path.write_bytes(bytes(raw))
    return path


def malformed_xml_xlsx(path: Path) -> Path:
    """A well-formed zip whose sheet XML is not well-formed: ParseError."""
    return _rewrite(good_workbook_bytes(), path,
                    {"xl/worksheets/sheet1.xml": b'<?xml version="1.0"?><worksheet xmlns="http://schemas.'
                                                 b'openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1">'
                                                 b'<c r="A1" t="inlineStr"><is><t>UPRN</t></is></c></row><row <<<'})


def shared_strings_bomb_xlsx(path: Path, expanded_mb: int = 193) -> Path:
    """A small workbook whose shared strings table expands to `expanded_mb` MB when read."""
    namespace = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    text = "A" * 1900
    count = expanded_mb * 1024 * 1024 // (len(text) + 17)
    source = good_workbook_bytes()
    target = _rewrite(source, path, {"xl/sharedStrings.xml": None})
    with zipfile.ZipFile(target, "a", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("xl/sharedStrings.xml", "w", force_zip64=True) as member:
            member.write(f'<?xml version="1.0"?><sst xmlns="{namespace}" count="{count}" uniqueCount="{count}">'
                         .encode())
            block = f"<si><t>{text}</t></si>".encode() * 1000
            for _ in range(count // 1000):
                member.write(block)
            member.write(b"</sst>")
    _ensure_shared_strings_are_referenced(target)
    return target


def _ensure_shared_strings_are_referenced(path: Path) -> None:
    """openpyxl's workbook must name the shared strings part; the saved workbook may not have one."""
    with zipfile.ZipFile(path) as archive:
        types = archive.read("[Content_Types].xml")
        rels = archive.read("xl/_rels/workbook.xml.rels")
    if b"sharedStrings" in types and b"sharedStrings" in rels:
        return
    types = types.replace(b"</Types>", b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                                       b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>')
    rels = rels.replace(b"</Relationships>", b'<Relationship Id="rIdSST" Type="http://schemas.openxmlformats.org/'
                                             b'officeDocument/2006/relationships/sharedStrings" '
                                             b'Target="sharedStrings.xml"/></Relationships>')
    temp = path.with_suffix(".rewrite")
    with zipfile.ZipFile(path) as old, zipfile.ZipFile(temp, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            if info.filename == "[Content_Types].xml":
                new.writestr(info, types)
            elif info.filename == "xl/_rels/workbook.xml.rels":
                new.writestr(info, rels)
            else:
                with old.open(info) as src, new.open(info, "w", force_zip64=True) as dst:
                    while block := src.read(1 << 20):
                        dst.write(block)
    temp.replace(path)


def deep_xml(path: Path, depth: int = 5000) -> Path:
    """Applications/Application records, the second nested `depth` elements deep (about 40 KB)."""
    good = "<Application><Ref>A1</Ref><Site><Postcode>EH1 1YJ</Postcode></Site></Application>"
    deep = "<Application><Ref>A2</Ref>" + "<n>" * depth + "x" + "</n>" * depth + "</Application>"
    path.write_text(f"<Applications>{good}{deep}{good.replace('A1', 'A3')}</Applications>", encoding="utf-8")
    return path


def endless_line_csv(path: Path, line_mb: int = 160, good_rows: list[str] | None = None) -> Path:
    """A CSV with a header, one line of `line_mb` MB with no line break in it, then good rows."""
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write(",".join(HEADER) + "\n")
        out.write("906999999,")
        chunk = "9" * (1 << 20)
        for _ in range(line_mb):
            out.write(chunk)
        out.write("\n")
        for row in good_rows or []:
            out.write(row + "\n")
    return path
