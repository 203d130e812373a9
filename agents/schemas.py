"""The hub's dataset schemas, fetched once and cached in the state directory, so
the agent rejects locally (with the source row) what the hub would reject, and
keeps working from the cache while the hub is away."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from causeway_common.catalogue import PayloadValidator

from .hub_client import HubClient, HubError, HubRefused

log = logging.getLogger("causeway.agent.schemas")


class SchemaUnavailable(Exception):
    pass


@dataclass
class DatasetSchema:
    dataset: str
    version: int
    key_field: str
    personal: bool
    validator: PayloadValidator

    def errors(self, payload: dict) -> list[dict]:
        return [e.as_dict() for e in self.validator.errors(payload)]


class SchemaCache:
    def __init__(self, folder: Path, hub: HubClient | None):
        self.folder = Path(folder)
        self.hub = hub
        self._loaded: dict[tuple[str, int | None], DatasetSchema] = {}

    def get(self, dataset: str, version: int | None = None, refresh: bool = False) -> DatasetSchema:
        """The schema of a dataset version (the latest when version is None)."""
        requested = version
        if not refresh and (dataset, requested) in self._loaded:
            return self._loaded[dataset, requested]
        try:
            meta, document, version = self._fetch(dataset, version)
        except HubError as exc:
            meta, document, version = self._cached(dataset, version, exc)
        loaded = DatasetSchema(dataset, version, meta["key_field"], bool(meta.get("personal")), PayloadValidator(document))
        self._loaded[dataset, requested] = self._loaded[dataset, version] = loaded
        return loaded

    def _fetch(self, dataset: str, version: int | None):
        if self.hub is None:
            raise HubError("no hub configured")
        try:
            meta = self.hub.dataset(dataset)
        except HubRefused as exc:
            if exc.status == 404:
                raise SchemaUnavailable(f"the hub has no dataset {dataset!r}") from None
            raise SchemaUnavailable(str(exc)) from None
        version = version or meta["latest_version"]
        if version not in meta["versions"]:
            raise SchemaUnavailable(f"the hub has no schema version {version} of dataset {dataset} "
                                    f"(published versions: {', '.join(map(str, meta['versions']))})")
        if version in meta.get("unaddressed_versions", ()):
            raise SchemaUnavailable(f"schema version {version} of dataset {dataset} names no addressee, so the hub "
                                    f"refuses its records: publish version {meta['latest_version']}, which names "
                                    "the organisation each record is for")
        document = self.hub.schema(dataset, version)
        self._store(self.folder / dataset / "dataset.json", meta)
        self._store(self.folder / dataset / f"{version}.json", document)
        return meta, document, version

    def _cached(self, dataset: str, version: int | None, why: Exception):
        """Work from the cache while the hub is unreachable."""
        try:
            meta = json.loads((self.folder / dataset / "dataset.json").read_text(encoding="utf-8"))
            version = version or meta["latest_version"]
            document = json.loads((self.folder / dataset / f"{version}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError):
            raise SchemaUnavailable(f"cannot fetch the schema of dataset {dataset} and none is cached: {why}") from None
        log.info("using the cached schema of %s v%s (%s)", dataset, version, why)
        return meta, document, version

    @staticmethod
    def _store(path: Path, document: dict) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(json.dumps(document, indent=1), encoding="utf-8")
        temporary.replace(path)
