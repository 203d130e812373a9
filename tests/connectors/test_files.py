"""The files connector: vendor exports as JSON, JSON lines, CSV and XML (hostile XML refused)."""
import json

import pytest

import connectors
from connectors import ConnectorError


def read_all(source, checkpoint=None):
    rows, errors = [], []
    for chunk in source.read(checkpoint):
        rows.extend(chunk.rows)
        errors.extend(chunk.errors)
        if chunk.on_commit:
            chunk.on_commit()
    return rows, errors


def files_source(tmp_path, **options):
    return connectors.load_source("files", {"settle_seconds": 0, **options}, tmp_path)


def test_json_object_with_record_path_and_nested_fields(tmp_path):
    export = {"meta": {"count": 2}, "data": {"items": [
        {"ref": "24/00001/FUL", "site": {"postcode": "EH1 1YZ", "uprn": 906700000001}, "fee": 462.0},
        {"ref": "24/00002/LBC", "site": {"postcode": "EH2 2AB", "uprn": 906700000002}, "fee": 0},
    ]}}
    (tmp_path / "apps.json").write_text(json.dumps(export), encoding="utf-8")
    source = files_source(tmp_path, path="apps.json", record_path="data.items", identity="ref",
                          fields={"ref": "ref", "postcode": "site.postcode", "uprn": "site.uprn"})
    rows, errors = read_all(source)
    assert errors == []
    assert [r.data for r in rows] == [
        {"ref": "24/00001/FUL", "postcode": "EH1 1YZ", "uprn": 906700000001},
        {"ref": "24/00002/LBC", "postcode": "EH2 2AB", "uprn": 906700000002},
    ]
    assert rows[0].identity == "apps.json#24/00001/FUL"
    assert rows[1].location == {"file": "apps.json", "record": 2}


def test_json_top_level_array_and_wrong_record_path(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps([{"id": 1}, "stray text", {"id": 3}]), encoding="utf-8")
    rows, errors = read_all(files_source(tmp_path, path="a.json"))
    assert [r.data for r in rows] == [{"id": 1}, {"id": 3}]
    assert errors[0].location == {"file": "a.json", "record": 2} and "not an object" in errors[0].message
    (tmp_path / "b.json").write_text(json.dumps({"results": [{"id": 1}]}), encoding="utf-8")
    with pytest.raises(ConnectorError, match=r"b.json: no array of records at 'the top level' \(set record_path"):
        read_all(files_source(tmp_path, path="b.json"))


def test_broken_json_is_reported_with_the_file(tmp_path):
    (tmp_path / "cut.json").write_text('[{"id": 1}, {"id": 2}, {"id": ', encoding="utf-8")
    with pytest.raises(ConnectorError, match="cut.json: invalid JSON after record 2"):
        read_all(files_source(tmp_path, path="cut.json"))


def test_json_lines_bad_line_is_reported_and_the_rest_come(tmp_path):
    (tmp_path / "events.jsonl").write_text('{"id": 1}\n{"id": 2,,}\n\n{"id": 4}\n', encoding="utf-8")
    rows, errors = read_all(files_source(tmp_path, path="events.jsonl", identity="id"))
    assert [r.data["id"] for r in rows] == [1, 4]
    assert rows[1].location == {"file": "events.jsonl", "line": 4}
    assert errors[0].location == {"file": "events.jsonl", "line": 2} and "invalid JSON" in errors[0].message


def test_csv_export(tmp_path):
    (tmp_path / "warrants.csv").write_text("Ref;Status\nBW/1;Granted\n", encoding="utf-8")
    rows, _ = read_all(files_source(tmp_path, path="warrants.csv"))
    assert rows[0].data == {"Ref": "BW/1", "Status": "Granted"}


UNIFORM_XML = """<?xml version="1.0" encoding="UTF-8"?>
<Export xmlns="urn:idox:uniform">
  <Applications>
    <Application ref="24/00001/FUL">
      <Proposal>Erection of garden room</Proposal>
      <Site uprn="906700000001"><Postcode>EH1 1YZ</Postcode><Ward>City Centre</Ward></Site>
    </Application>
    <Application ref="24/00002/LBC">
      <Proposal>Replacement windows</Proposal>
      <Site uprn="906700000002"><Postcode>EH2 2AB</Postcode></Site>
    </Application>
  </Applications>
</Export>
"""


def test_xml_with_record_path_field_paths_and_attributes(tmp_path):
    (tmp_path / "uniform.xml").write_text(UNIFORM_XML, encoding="utf-8")
    source = files_source(tmp_path, path="uniform.xml", record_path="Applications/Application", identity="ref",
                          fields={"ref": "@ref", "postcode": "Site/Postcode", "uprn": "Site/@uprn", "ward": "Site/Ward"})
    rows, errors = read_all(source)
    assert errors == []
    assert [r.data for r in rows] == [
        {"ref": "24/00001/FUL", "postcode": "EH1 1YZ", "uprn": "906700000001", "ward": "City Centre"},
        {"ref": "24/00002/LBC", "postcode": "EH2 2AB", "uprn": "906700000002", "ward": None},
    ]


def test_xml_without_fields_is_flattened(tmp_path):
    (tmp_path / "uniform.xml").write_text(UNIFORM_XML, encoding="utf-8")
    rows, _ = read_all(files_source(tmp_path, path="uniform.xml", record_path="Applications/Application"))
    assert rows[0].data == {"@ref": "24/00001/FUL", "Proposal": "Erection of garden room",
                            "Site/@uprn": "906700000001", "Site/Postcode": "EH1 1YZ", "Site/Ward": "City Centre"}


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Applications><Application><Proposal>&lol9;</Proposal></Application></Applications>
"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE a [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<Applications><Application><Proposal>&secret;</Proposal></Application></Applications>
"""


@pytest.mark.parametrize("document", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["billion-laughs", "external-entity"])
def test_hostile_xml_is_refused(tmp_path, document):
    (tmp_path / "evil.xml").write_text(document, encoding="utf-8")
    with pytest.raises(ConnectorError, match="evil.xml: refused: the XML uses entity declarations"):
        read_all(files_source(tmp_path, path="evil.xml", record_path="Applications/Application"))


def test_hostile_xml_in_a_drop_folder_goes_to_failed_with_the_reason(tmp_path):
    drop = tmp_path / "in"
    drop.mkdir()
    (drop / "evil.xml").write_text(EXTERNAL_ENTITY, encoding="utf-8")
    (drop / "good.xml").write_text(UNIFORM_XML, encoding="utf-8")
    rows, errors = read_all(files_source(tmp_path, folder="in", record_path="Applications/Application"))
    assert len(rows) == 2 and all(r.location["file"] == "good.xml" for r in rows)
    assert "refused" in errors[0].message
    assert "refused" in (drop / "failed" / "evil.xml.reason.txt").read_text()
    assert (drop / "processed" / "good.xml").exists()
    assert "/etc/passwd" not in json.dumps([r.data for r in rows])


def test_malformed_xml_names_the_line(tmp_path):
    (tmp_path / "bad.xml").write_text("<Applications>\n<Application>\n</Applications>\n", encoding="utf-8")
    with pytest.raises(ConnectorError, match="bad.xml: not well-formed XML at line 3"):
        read_all(files_source(tmp_path, path="bad.xml", record_path="Applications/Application"))


def test_large_xml_streams(tmp_path):
    path = tmp_path / "big.xml"
    with open(path, "w", encoding="utf-8") as out:
        out.write("<Applications>")
        for i in range(50_000):
            out.write(f'<Application ref="{i}"><Site><Postcode>EH{i % 99} 1AA</Postcode></Site></Application>')
        out.write("</Applications>")
    source = files_source(tmp_path, path="big.xml", record_path="Applications/Application", chunk_rows=5000)
    count = sum(len(chunk.rows) for chunk in source.read(None))
    assert count == 50_000


def test_a_json_lines_snapshot_deletes_records_missing_from_the_next_export(tmp_path):
    def export(name, records):
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")

    options = {"folder": ".", "pattern": "*.jsonl", "identity": "site.uprn", "snapshot": True, "state_dir": "state",
               "max_delete_percent": 50}
    export("monday.jsonl", [{"site": {"uprn": 906700000000 + n}, "ref": f"R{n}"} for n in range(4)])
    rows, _ = read_all(files_source(tmp_path, **options))
    assert len(rows) == 4
    export("tuesday.jsonl", [{"site": {"uprn": 906700000000 + n}, "ref": f"R{n}"} for n in (0, 1, 3)]
           + [{"ref": "no key"}])
    rows, errors = read_all(files_source(tmp_path, **options))
    assert [(r.op, r.data) for r in rows] == [("delete", {"site.uprn": 906700000002})]
    assert [e.location for e in errors] == [{"file": "tuesday.jsonl", "line": 4}]
    assert "identity field(s) site.uprn empty" in errors[0].message  # its key is neither sent nor deleted
