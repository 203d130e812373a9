"""The open-data usage page: for each dataset published to the public, its page views,
downloads, feed calls and e-mail alert subscribers. The dataset's owner sees its own
datasets' figures; admins see every one."""
from __future__ import annotations

from flask import render_template

from .blueprint import ALL_STAFF, console, requires, services, staff


@console.get("/open-data")
@requires(*ALL_STAFF)
def open_data_usage():
    hub = services()
    user = staff()
    usage = hub.open_data.usage(days=30)
    subscribers = hub.resident_alerts.subscribers()
    rows = []
    for entry in hub.open_data.open_datasets():
        dataset = entry["dataset"]
        if user.role != "admin" and dataset.owner != user.org:
            continue
        counts = usage.get(dataset.name, {})
        rows.append({"dataset": dataset, "records": entry["records"], "page": counts.get("page", 0),
                     "download": counts.get("download", 0), "api": counts.get("api", 0),
                     "subscribers": subscribers.get(dataset.name, 0)})
    return render_template("console/open_data.html", rows=rows)
