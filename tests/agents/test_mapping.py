"""The declarative mapping: converters, errors that name field/column/value, pseudonymous subjects."""
import hashlib
import hmac
from datetime import date, datetime

import pytest

from agents.mapping import Mapper, MappingConfigError, MappingError
from connectors.base import SourceRow

GAZETTEER = {
    "dataset": "gazetteer-address",
    "schema_version": 1,
    "key": "uprn",
    "fields": {
        "uprn": {"from": "UPRN", "convert": ["trim"]},
        "postcode": {"from": "Postcode", "convert": ["trim", "upper"]},
        "easting": {"from": "X", "convert": ["number"]},
        "last_updated": {"from": "Updated", "convert": [{"date": ["%d/%m/%Y", "excel"]}]},
        "status": {
            "from": "Status",
            "convert": ["trim", "lower", {"lookup": {"a": "approved", "p": "provisional"}}],
            "default": "approved",
        },
        "custodian": {"const": "edinburgh"},
        "street": {"concat": ["Street1", "Street2"], "sep": " "},
        "occupied": {"from": "Occupied", "convert": ["boolean"]},
    },
}


def row(**data):
    return SourceRow(data=data, location={"file": "gazetteer.csv", "row": 2}, identity="gazetteer.csv#2", version="v1")


def good_row(**overrides):
    data = {
        "UPRN": " 906700000001 ",
        "Postcode": " eh1 1yz",
        "X": "325,123",
        "Updated": "03/02/2024",
        "Status": " P ",
        "Street1": "High Street",
        "Street2": "",
        "Occupied": "Y",
    }
    data.update(overrides)
    return row(**data)


def test_maps_a_gazetteer_row():
    payload, key, subject = Mapper(GAZETTEER).map(good_row())
    assert key == "906700000001"
    assert subject is None
    assert payload == {
        "uprn": "906700000001",
        "postcode": "EH1 1YZ",
        "easting": 325123,
        "last_updated": "2024-02-03",  # dd/mm/yyyy, not mm/dd
        "status": "provisional",
        "custodian": "edinburgh",
        "street": "High Street",  # empty parts of a concatenation are skipped
        "occupied": True,
    }


@pytest.mark.parametrize(
    "cell, expected",
    [
        ("03/02/2024", "2024-02-03"),
        (45325, "2024-02-03"),  # Excel serial number
        ("45325", "2024-02-03"),  # serial read as text from a CSV
        (datetime(2024, 2, 3, 0, 0), "2024-02-03"),  # openpyxl date cell
        (date(2024, 2, 3), "2024-02-03"),
    ],
)
def test_dates_in_every_shape_a_council_sends(cell, expected):
    payload, _, _ = Mapper(GAZETTEER).map(good_row(Updated=cell))
    assert payload["last_updated"] == expected


@pytest.mark.parametrize(
    "cell, expected",
    [("£1,234.50", 1234.5), ("  12 000 ", 12000), ("(1,500)", -1500), (7.0, 7), ("0.25", 0.25)],
)
def test_numbers_lose_pound_signs_and_separators(cell, expected):
    payload, _, _ = Mapper(GAZETTEER).map(good_row(X=cell))
    assert payload["easting"] == expected
    assert type(payload["easting"]) is type(expected)


@pytest.mark.parametrize("cell, expected", [("Y", True), ("no", False), ("TRUE", True), ("0", False), (1, True)])
def test_booleans(cell, expected):
    assert Mapper(GAZETTEER).map(good_row(Occupied=cell))[0]["occupied"] is expected


def test_default_fills_an_empty_value_and_empty_fields_are_left_out():
    payload, _, _ = Mapper(GAZETTEER).map(good_row(Status="  ", X="", Street1=None, Street2=None))
    assert payload["status"] == "approved"
    assert "easting" not in payload
    assert "street" not in payload


def test_bad_number_names_field_column_and_value():
    with pytest.raises(MappingError) as caught:
        Mapper(GAZETTEER).map(good_row(X="12a"))
    message = str(caught.value)
    assert "'easting'" in message and "'X'" in message and "'12a'" in message
    assert caught.value.field == "easting" and caught.value.column == "X"


def test_bad_date_names_the_formats_tried():
    with pytest.raises(MappingError, match=r"field 'last_updated' from column 'Updated': '31/02/2024' is not a date"):
        Mapper(GAZETTEER).map(good_row(Updated="31/02/2024"))


def test_unknown_lookup_value_is_an_error_unless_the_lookup_has_a_default():
    with pytest.raises(MappingError, match=r"'x' is not in the lookup table"):
        Mapper(GAZETTEER).map(good_row(Status="X"))
    config = {**GAZETTEER, "fields": {**GAZETTEER["fields"]}}
    config["fields"]["status"] = {"from": "Status", "convert": ["trim", {"lookup": {"values": {"A": "approved"}, "default": "other"}}]}
    assert Mapper(config).map(good_row(Status="X"))[0]["status"] == "other"


def test_empty_key_is_refused():
    with pytest.raises(MappingError, match="'uprn'.*key field is empty"):
        Mapper(GAZETTEER).map(good_row(UPRN="  "))


def test_missing_column_is_named_per_row_and_at_check_time():
    mapper = Mapper(GAZETTEER)
    data = good_row().data
    del data["Postcode"]
    with pytest.raises(MappingError, match=r"field 'postcode' from column 'Postcode': the source row has no such column"):
        mapper.map(row(**data))
    with pytest.raises(MappingError, match=r"does not have: 'Postcode'"):
        mapper.check_columns(list(data))
    mapper.check_columns(list(good_row().data))  # all present: no error


def test_subject_is_a_keyed_hash_never_the_raw_id():
    config = {**GAZETTEER, "subject": {"from": "ClientId", "hash_key_env": "SUBJECT_KEY"}}
    mapper = Mapper(config, environ={"SUBJECT_KEY": "council-secret"})
    payload, _, subject = mapper.map(good_row(ClientId=" cl-0042 "))
    expected = hmac.new(b"council-secret", b"CL-0042", hashlib.sha256).hexdigest()
    assert subject == expected
    assert "CL-0042" not in str(payload) and "cl-0042" not in subject
    # the same person spelled differently gets the same reference; another key gives another one
    assert mapper.map(good_row(ClientId="CL-0042"))[2] == expected
    other = Mapper(config, environ={"SUBJECT_KEY": "another-council"})
    assert other.map(good_row(ClientId="CL-0042"))[2] != expected


def test_subject_without_its_key_is_refused_when_loading():
    config = {**GAZETTEER, "subject": {"from": "ClientId", "hash_key_env": "SUBJECT_KEY"}}
    with pytest.raises(MappingConfigError, match="SUBJECT_KEY"):
        Mapper(config, environ={})


def test_nested_paths_for_json_sources():
    config = {
        "dataset": "planning-application",
        "key": "reference",
        "fields": {
            "reference": {"from": "ref"},
            "postcode": {"from": "site.address.postcode", "convert": ["upper"]},
            "first_document": {"from": "documents.0.title"},
        },
    }
    source = row(ref="24/00001/FUL", site={"address": {"postcode": "eh1 1yz"}}, documents=[{"title": "Plans"}])
    payload, key, _ = Mapper(config).map(source)
    assert payload == {"reference": "24/00001/FUL", "postcode": "EH1 1YZ", "first_document": "Plans"}
    Mapper(config).check_columns(["ref", "site", "documents"])


def test_delete_rows_map_to_key_only():
    delete = SourceRow({"UPRN": "906700000001"}, {"table": "addresses"}, "addresses:906700000001", "deleted", op="delete")
    assert Mapper(GAZETTEER).map(delete) == (None, "906700000001", None)


def test_integer_converter_refuses_fractions():
    config = {"dataset": "d", "key": "k", "fields": {"k": {"from": "K", "convert": ["integer"]}}}
    assert Mapper(config).map(row(K="1,204")) == ({"k": 1204}, "1204", None)
    with pytest.raises(MappingError, match="not a whole number"):
        Mapper(config).map(row(K="1.5"))


def test_required_field():
    config = {"dataset": "d", "key": "k", "fields": {"k": {"from": "K"}, "name": {"from": "N", "required": True}}}
    with pytest.raises(MappingError, match="'name' from column 'N': is required"):
        Mapper(config).map(row(K="1", N=""))


def test_datetime_converter():
    config = {"dataset": "d", "key": "k", "fields": {"k": {"from": "K"}, "at": {"from": "At", "convert": ["datetime"]}}}
    # Naive times are Europe/London (GMT in February), sent in UTC.
    assert Mapper(config).map(row(K="1", At="03/02/2024 14:30"))[0]["at"] == "2024-02-03T14:30:00Z"
    assert Mapper(config).map(row(K="1", At="2024-02-03T14:30:00Z"))[0]["at"] == "2024-02-03T14:30:00Z"
    assert Mapper(config).map(row(K="1", At=45325.5))[0]["at"] == "2024-02-03T12:00:00Z"


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"k": {"from": "K", "convert": ["shout"]}}, "unknown converter 'shout'"),
        ({"k": {"from": "K", "const": 1}}, "exactly one of from, const, concat, template or subject"),
        ({"k": {"from": "K"}, "ref": {"subject": True}}, "carry the subject pseudonym, but the mapping has no subject"),
        ({"k": {"from": "K"}, "ref": {"subject": True, "required": True}}, "written {subject: true}, alone"),
        ({"k": {"from": "K", "defualt": 1}}, "unknown setting"),
        ({"other": {"from": "K"}}, "key field 'k' is not among the mapped fields"),
    ],
)
def test_configuration_mistakes_are_caught_when_compiling(fields, message):
    with pytest.raises(MappingConfigError, match=message):
        Mapper({"dataset": "d", "key": "k", "fields": fields})
