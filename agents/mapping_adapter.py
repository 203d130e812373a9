"""The seam between a task's declarative mapping (agents.mapping) and the
publish pipeline: one compiled mapper per task, row errors turned into
JSON-pointer errors like the hub's."""
from __future__ import annotations

from dataclasses import dataclass

from .mapping import MappingConfigError, MappingError, compile_mapping


class MappingSetupError(ValueError):
    """The task's mapping does not fit its dataset (found before any row is read)."""


class RowMappingError(Exception):
    def __init__(self, errors: list[dict]):
        self.errors = errors
        super().__init__("; ".join(e["message"] for e in errors))


@dataclass(slots=True)
class Mapped:
    payload: dict | None
    key: str | None
    subject: str | None = None
    occurred_at: str | None = None


class RowMapper:
    def __init__(self, mapper):
        self._mapper = mapper

    @property
    def key_field(self) -> str:
        return self._mapper.key_field

    @property
    def fields(self) -> tuple[str, ...]:
        return self._mapper.fields

    def check_columns(self, columns) -> None:
        try:
            self._mapper.check_columns(columns)
        except MappingError as exc:
            raise MappingSetupError(str(exc)) from None

    def map(self, row) -> Mapped:
        try:
            payload, key, subject = self._mapper.map(row)
        except MappingError as exc:
            path = f"/payload/{exc.field}" if exc.field and exc.field != "subject" else ("/subject" if exc.field else "")
            raise RowMappingError([{"path": path, "message": str(exc)}]) from None
        return Mapped(payload, key, subject)


def row_mapper(task, schema) -> RowMapper:
    """Compile a task's mapping against the dataset schema fetched from the hub."""
    spec = dict(task.mapping or {})
    spec.setdefault("dataset", schema.dataset)
    spec.setdefault("schema_version", schema.version)
    spec.setdefault("key", schema.key_field)
    if spec["dataset"] != schema.dataset:
        raise MappingSetupError(f"task {task.name}: the mapping is for dataset {spec['dataset']!r} "
                                f"but the task publishes {schema.dataset!r}")
    if spec["key"] != schema.key_field:
        raise MappingSetupError(f"task {task.name}: the mapping's key is {spec['key']!r} but dataset "
                                f"{schema.dataset} is keyed by {schema.key_field!r}")
    try:
        return RowMapper(compile_mapping(spec, time_zone=task.time_zone))
    except MappingConfigError as exc:
        raise MappingSetupError(f"task {task.name}: mapping: {exc}") from None
