"""DCAT metadata (JSON-LD, in the style of DCAT-AP) for the open catalogue, so portals and
search engines can harvest it: title, description, publisher, licence, update frequency,
temporal and spatial coverage, modified date, contact point and distributions."""
from __future__ import annotations

from hub.timeutil import iso_utc

CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "vcard": "http://www.w3.org/2006/vcard/ns#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}
# The EU Publications Office's frequency vocabulary, which DCAT-AP names.
FREQUENCIES = {
    "continuous": "CONT", "daily": "DAILY", "weekly": "WEEKLY", "monthly": "MONTHLY",
    "quarterly": "QUARTERLY", "annual": "ANNUAL",
}
FREQUENCY_BASE = "http://publications.europa.eu/resource/authority/frequency/"


def dataset_node(entry: dict, base_url: str, publisher_name: str) -> dict:
    dataset = entry["dataset"]
    meta = dataset.open_data
    page = f"{base_url}/open/{dataset.name}"
    node: dict = {
        "@id": page,
        "@type": "dcat:Dataset",
        "dct:identifier": dataset.name,
        "dct:title": dataset.title,
        "dct:description": dataset.description,
        "dct:publisher": {"@type": "foaf:Organization", "foaf:name": publisher_name},
        "dcat:landingPage": {"@id": page},
        "dcat:distribution": [
            {"@type": "dcat:Distribution", "dct:title": f"{dataset.title} (CSV)",
             "dcat:downloadURL": {"@id": f"{page}.csv"}, "dcat:mediaType": "text/csv"},
            {"@type": "dcat:Distribution", "dct:title": f"{dataset.title} (JSON, in pages with a cursor)",
             "dcat:accessURL": {"@id": f"{page}.json"}, "dcat:mediaType": "application/json"},
        ],
    }
    if entry.get("modified") is not None:
        node["dct:modified"] = {"@value": iso_utc(entry["modified"]), "@type": "xsd:dateTime"}
    if "licence" in meta:
        node["dct:license"] = {"@id": meta["licence"], **({"dct:title": meta["licence_title"]}
                                                           if "licence_title" in meta else {})}
        for distribution in node["dcat:distribution"]:
            distribution["dct:license"] = {"@id": meta["licence"]}
    if meta.get("update_frequency") in FREQUENCIES:
        node["dct:accrualPeriodicity"] = {"@id": FREQUENCY_BASE + FREQUENCIES[meta["update_frequency"]]}
    if "spatial_coverage" in meta:
        node["dct:spatial"] = {"@type": "dct:Location", "dct:title": meta["spatial_coverage"]}
    if "temporal_coverage" in meta:
        period = {"@type": "dct:PeriodOfTime",
                  "dcat:startDate": {"@value": meta["temporal_coverage"]["start"], "@type": "xsd:date"}}
        if "end" in meta["temporal_coverage"]:
            period["dcat:endDate"] = {"@value": meta["temporal_coverage"]["end"], "@type": "xsd:date"}
        node["dct:temporal"] = period
    if "contact_point" in meta:
        node["dcat:contactPoint"] = {"@type": "vcard:Kind", "vcard:fn": meta["contact_point"]["name"],
                                     "vcard:hasEmail": {"@id": "mailto:" + meta["contact_point"]["email"]}}
    if meta.get("keywords"):
        node["dcat:keyword"] = list(meta["keywords"])
    return node


def dataset_document(entry: dict, base_url: str, publisher_name: str) -> dict:
    return {"@context": CONTEXT, **dataset_node(entry, base_url, publisher_name)}


def catalogue_document(entries: list[dict], base_url: str, names: dict[str, str]) -> dict:
    return {
        "@context": CONTEXT,
        "@id": f"{base_url}/open/",
        "@type": "dcat:Catalog",
        "dct:title": "Causeway open data",
        "dct:description": "Non-personal datasets that councils and agencies publish openly through Causeway.",
        "dcat:dataset": [dataset_node(entry, base_url, names.get(entry["dataset"].owner, entry["dataset"].owner))
                         for entry in entries],
    }

