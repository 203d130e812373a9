"""The dataset catalogue: `schemas/<dataset>/dataset.yaml` plus versioned payload
schemas `schemas/<dataset>/<version>.json` (JSON Schema 2020-12).

Validators are compiled once per (dataset, version); a record is always
validated against the version it names, so adding version 2 never breaks
publishers still sending version 1.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml

from .limits import DEFAULT_MAX_DEPTH, KEYWORDS, depth_message, guard_message, guarded, too_deep

DEFAULT_SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "schemas"
# Marks the payload property naming the one org a record is for (a referral's receiving_org).
ADDRESSEE_MARK = "x-causeway-addressee"


class CatalogueError(Exception):
    pass


@dataclass(frozen=True)
class FieldError:
    path: str  # JSON pointer into the record, e.g. /payload/postcode
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


def _pointer(parts: Iterable[str | int]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


class PayloadValidator:
    """A compiled JSON Schema validator that reports JSON pointers into the record.

    Unless `max_depth` is None, it also enforces the record limits (numbers within
    ±(2^53-1), at most `max_depth` levels of nesting) in the same pass."""

    def __init__(self, schema: dict[str, Any], prefix: str = "/payload", max_depth: int | None = DEFAULT_MAX_DEPTH):
        self._max_depth = max_depth
        compiled = guarded(schema, max_depth) if max_depth is not None else schema
        self._validator = jsonschema_rs.validator_for(compiled, validate_formats=True, keywords=KEYWORDS)
        self._prefix = prefix

    def errors(self, instance: Any) -> list[FieldError]:
        try:
            if self._validator.is_valid(instance):
                return []
            errors = list(self._validator.iter_errors(instance))
        except ValueError:  # the validator cannot take in values nested a few hundred deep
            limit = self._max_depth or DEFAULT_MAX_DEPTH
            return [FieldError(self._prefix + _pointer(too_deep(instance, limit)), depth_message(limit))]
        found = []
        for error in errors:
            parts = list(error.instance_path)
            kind = error.kind
            if isinstance(kind, jsonschema_rs.ValidationErrorKind.Required):
                parts.append(kind.property)  # point at the missing field itself
            message = error.message
            if self._max_depth is not None:
                message = guard_message(error.schema_path, kind.name, error.instance, self._max_depth) or message
            found.append(FieldError(self._prefix + _pointer(parts), message))
        return found


@dataclass(frozen=True)
class Dataset:
    name: str
    title: str
    description: str
    owner: str
    personal: bool
    key_field: str
    schemas: dict[int, dict[str, Any]]  # version -> schema document
    periodic: dict[str, Any] | None = None
    # How often each publisher is expected to publish, and the grace allowed beyond that:
    # {"every_hours": 24, "grace_hours": 6}; None when the dataset declares none.
    cadence: dict[str, float] | None = None
    # What an open-data catalogue says of the dataset when an agreement publishes it: licence,
    # update_frequency, spatial_coverage, temporal_coverage, contact_point, keywords,
    # postcode_field (see OPEN_DATA_FIELDS); empty when the dataset.yaml declares none.
    open_data: dict[str, Any] = field(default_factory=dict)
    max_depth: int = DEFAULT_MAX_DEPTH  # nesting limit of payloads (see causeway_common.limits)
    validators: dict[int, PayloadValidator] = field(default_factory=dict, compare=False, repr=False)

    @property
    def latest_version(self) -> int:
        return max(self.schemas)

    def validator(self, version: int) -> PayloadValidator | None:
        if version not in self.schemas:
            return None
        if version not in self.validators:
            self.validators[version] = PayloadValidator(self.schemas[version], max_depth=self.max_depth)
        return self.validators[version]

    def _marked_addressee(self, version: int) -> str | None:
        properties = self.schemas.get(version, {}).get("properties", {})
        return next((name for name, prop in properties.items()
                     if isinstance(prop, dict) and prop.get(ADDRESSEE_MARK)), None)

    @property
    def unaddressed_versions(self) -> list[int]:
        """Versions naming no addressee in an addressed dataset (one of whose versions marks an addressee).
        Such a record could only go to every recipient an agreement covers, so the hub takes none in
        (hub.records) and hands none out (hub.policy)."""
        bare = [version for version in self.schemas if self._marked_addressee(version) is None]
        return bare if len(bare) < len(self.schemas) else []

    def addressee_field(self, version: int) -> str | None:
        """The payload field naming the one org a record of `version` is for (None: the dataset is not
        addressed). An unaddressed version of an addressed dataset answers the field its other versions
        mark: its records lack it, so the decision point hands them to nobody."""
        marked = self._marked_addressee(version)
        if marked is not None or not self.unaddressed_versions:
            return marked
        return next(found for other in self.schemas if (found := self._marked_addressee(other)))

    def fields(self, version: int | None = None) -> list[dict[str, Any]]:
        """Documented fields of a schema version: name, type, title, description, required."""
        schema = self.schemas[version or self.latest_version]
        required = set(schema.get("required", []))
        return [
            {
                "name": name,
                "type": prop.get("type", "any"),
                "title": prop.get("title", name),
                "description": prop.get("description", ""),
                "required": name in required,
            }
            for name, prop in schema.get("properties", {}).items()
        ]

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "owner": self.owner,
            "personal": self.personal,
            "key_field": self.key_field,
            "versions": sorted(self.schemas),
            "latest_version": self.latest_version,
            "unaddressed_versions": self.unaddressed_versions,
            "periodic": self.periodic,
            "cadence": self.cadence,
            "open_data": self.open_data,
        }


def dataset_from_documents(name: str, meta: dict[str, Any], schemas: dict[int, dict[str, Any]],
                           max_depth: int = DEFAULT_MAX_DEPTH) -> Dataset:
    missing = [k for k in ("title", "description", "owner", "key_field") if k not in meta]
    if missing:
        raise CatalogueError(f"dataset {name}: dataset.yaml lacks {', '.join(missing)}")
    if not schemas:
        raise CatalogueError(f"dataset {name}: no schema versions (expected <version>.json files)")
    for version, schema in schemas.items():
        try:
            jsonschema_rs.meta.validate(schema)
        except jsonschema_rs.ValidationError as exc:
            raise CatalogueError(f"dataset {name} version {version}: not a valid JSON Schema: {exc}") from exc
        if meta["key_field"] not in schema.get("properties", {}):
            raise CatalogueError(f"dataset {name} version {version}: key field {meta['key_field']!r} is not a property")
        examples = schema.get("examples") or []
        if not examples:
            raise CatalogueError(f"dataset {name} version {version}: schema carries no examples")
        validator = PayloadValidator(schema)
        for index, example in enumerate(examples):
            problems = validator.errors(example)
            if problems:
                raise CatalogueError(
                    f"dataset {name} version {version}: example {index} is invalid: "
                    f"{problems[0].path}: {problems[0].message}"
                )
    return Dataset(
        name=name,
        cadence=_cadence(name, meta.get("cadence")),
        title=meta["title"],
        description=meta["description"],
        owner=meta["owner"],
        personal=bool(meta.get("personal", False)),
        key_field=meta["key_field"],
        schemas=dict(sorted(schemas.items())),
        periodic=meta.get("periodic"),
        open_data=_open_data(name, meta.get("open_data"), schemas),
        max_depth=max_depth,
    )


# The metadata a dataset declares for open-data catalogues (DCAT), each with what it must be.
OPEN_DATA_FIELDS = {
    "licence": "the licence's URL, e.g. https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/",
    "licence_title": "the licence's name, e.g. Open Government Licence v3.0",
    "update_frequency": "one of " + ", ".join(("continuous", "daily", "weekly", "monthly", "quarterly", "annual")),
    "spatial_coverage": "the area the data covers, e.g. Scotland",
    "temporal_coverage": "{start: <date>, end: <date>} (end may be left out)",
    "contact_point": "{name: <text>, email: <address>}",
    "keywords": "a list of words",
    "postcode_field": "the payload field holding a postcode, searched by district",
}
UPDATE_FREQUENCIES = ("continuous", "daily", "weekly", "monthly", "quarterly", "annual")


def _open_data(name: str, declared: Any, schemas: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """`open_data:` from dataset.yaml, checked: every problem names its setting."""
    if declared is None:
        return {}
    if not isinstance(declared, dict):
        raise CatalogueError(f"dataset {name}: open_data is a mapping of {', '.join(OPEN_DATA_FIELDS)}")
    unknown = sorted(set(declared) - set(OPEN_DATA_FIELDS))
    if unknown:
        raise CatalogueError(f"dataset {name}: open_data has no setting {unknown[0]!r} "
                             f"(settings: {', '.join(OPEN_DATA_FIELDS)})")
    for key, value in declared.items():
        wanted = OPEN_DATA_FIELDS[key]
        if key == "update_frequency" and value not in UPDATE_FREQUENCIES:
            raise CatalogueError(f"dataset {name}: open_data.update_frequency must be {wanted}")
        if key == "temporal_coverage" and not (isinstance(value, dict) and set(value) <= {"start", "end"}
                                               and "start" in value):
            raise CatalogueError(f"dataset {name}: open_data.temporal_coverage must be {wanted}")
        if key == "contact_point" and not (isinstance(value, dict) and set(value) == {"name", "email"}):
            raise CatalogueError(f"dataset {name}: open_data.contact_point must be {wanted}")
        if key == "keywords" and not (isinstance(value, list) and all(isinstance(w, str) for w in value)):
            raise CatalogueError(f"dataset {name}: open_data.keywords must be {wanted}")
        if key in ("licence", "licence_title", "spatial_coverage", "postcode_field") and not isinstance(value, str):
            raise CatalogueError(f"dataset {name}: open_data.{key} must be {wanted}")
    field_name = declared.get("postcode_field")
    if field_name is not None and any(field_name not in schema.get("properties", {}) for schema in schemas.values()):
        raise CatalogueError(f"dataset {name}: open_data.postcode_field {field_name!r} is not a field of every version")
    temporal = declared.get("temporal_coverage")
    if temporal:
        declared = {**declared, "temporal_coverage": {k: str(v) for k, v in temporal.items()}}
    return dict(declared)


def _cadence(name: str, declared: Any) -> dict[str, float] | None:
    """`cadence: {every_hours: 24, grace_hours: 6}` from dataset.yaml, checked."""
    if declared is None:
        return None
    if not isinstance(declared, dict) or set(declared) - {"every_hours", "grace_hours"} or "every_hours" not in declared:
        raise CatalogueError(f"dataset {name}: cadence is {{every_hours: <hours>, grace_hours: <hours>}}")
    every, grace = declared["every_hours"], declared.get("grace_hours", 0)
    for label, value in (("every_hours", every), ("grace_hours", grace)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or value > 24 * 366:
            raise CatalogueError(f"dataset {name}: cadence {label} must be a number of hours from 0 to 8784")
    if every <= 0:
        raise CatalogueError(f"dataset {name}: cadence every_hours must be more than 0")
    return {"every_hours": float(every), "grace_hours": float(grace)}


def load_catalogue(schemas_dir: Path | str = DEFAULT_SCHEMAS_DIR) -> dict[str, Dataset]:
    """Read every dataset folder (one holding a dataset.yaml) under schemas_dir."""
    root = Path(schemas_dir)
    datasets = {}
    for meta_path in sorted(root.glob("*/dataset.yaml")):
        folder = meta_path.parent
        meta = yaml.safe_load(meta_path.read_text(encoding="utf-8")) or {}
        schemas = {}
        for schema_path in folder.glob("*.json"):
            if not schema_path.stem.isdigit():
                raise CatalogueError(f"{schema_path}: schema files are named <version>.json, e.g. 1.json")
            try:
                schemas[int(schema_path.stem)] = json.loads(schema_path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise CatalogueError(f"{schema_path}: invalid JSON at line {exc.lineno}: {exc.msg}") from exc
        datasets[folder.name] = dataset_from_documents(folder.name, meta, schemas)
    return datasets


def load_format_schema(name: str, schemas_dir: Path | str = DEFAULT_SCHEMAS_DIR) -> dict[str, Any]:
    """One of the project's own file formats: schemas/formats/<name>.json."""
    schema: dict[str, Any] = json.loads((Path(schemas_dir) / "formats" / f"{name}.json").read_text(encoding="utf-8"))
    return schema
