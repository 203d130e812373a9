"""Gauges on /metrics for the alert conditions that no other metric shows, read at scrape
time, so a site's Prometheus and Alertmanager can alert on the same conditions as the hub
(docs/alerting-rules.yml). Reject rates come from the existing record counters."""
from __future__ import annotations

import json
import logging
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from hub.delivery.models import dead_letters, subscriptions
from hub.policy.models import agreement_versions

from .registry import Sources
from .rules import day_of, return_overdue

log = logging.getLogger("causeway.hub.alerts")


class AlertMeasures:
    def __init__(self, sources: Sources, settings, clock):
        self.sources, self.settings, self.clock = sources, settings, clock

    def collect(self):
        now = self.clock()
        for measure in (self._agents, self._subscriptions, self._coverage, self._agreements, self._returns,
                        self._referrals):
            try:
                yield from measure(now)
            except Exception:  # a scrape must answer even when one source does not
                log.exception("alert gauges: %s could not be read", measure.__name__)

    def _agents(self, now: datetime):
        stale = GaugeMetricFamily("causeway_agent_stale", "1 while an active agent has stopped reporting",
                                  labels=["agent", "org"])
        for agent in self.sources.agent_summaries().values():
            if agent["active"]:
                stale.add_metric([agent["id"], agent["org"]], 1 if agent["status"] == "stale" else 0)
        yield stale

    def _subscriptions(self, now: datetime):
        labels = ["subscription", "org", "dataset"]
        failing = GaugeMetricFamily("causeway_subscription_failing",
                                    "1 while a subscription's latest delivery attempts failed", labels=labels)
        disabled = GaugeMetricFamily("causeway_subscription_disabled", "1 while a subscription is disabled",
                                     labels=labels)
        dead = GaugeMetricFamily("causeway_subscription_dead_letters",
                                 "Events a subscription's endpoint refused for good, waiting to be retried",
                                 labels=labels)
        with self.sources.engine.connect() as conn:
            counts = dict(conn.execute(select(dead_letters.c.subscription_id, func.count())
                                       .where(dead_letters.c.state == "dead")
                                       .group_by(dead_letters.c.subscription_id)).all())
            rows = conn.execute(select(subscriptions.c.id, subscriptions.c.org, subscriptions.c.dataset,
                                       subscriptions.c.status, subscriptions.c.attempts)).all()
        for row in rows:
            values = [row.id, row.org, row.dataset]
            failing.add_metric(values, 1 if row.attempts > 0 and row.status != "disabled" else 0)
            disabled.add_metric(values, 1 if row.status == "disabled" else 0)
            dead.add_metric(values, counts.get(row.id, 0))
        yield from (failing, disabled, dead)

    def _coverage(self, now: datetime):
        quiet = GaugeMetricFamily("causeway_coverage_quiet",
                                  "1 while a council has not published a dataset within its cadence and grace",
                                  labels=["org", "dataset"])
        for cell in self.sources.coverage()["cells"]:
            if cell["state"] != "never_published":
                quiet.add_metric([cell["org"], cell["dataset"]], 1 if cell["state"] == "quiet" else 0)
        yield quiet

    def _agreements(self, now: datetime):
        review = GaugeMetricFamily("causeway_agreement_days_to_review",
                                   "Days until an active agreement's review date", labels=["agreement"])
        end = GaugeMetricFamily("causeway_agreement_days_to_end", "Days until an active agreement ends",
                                labels=["agreement"])
        with self.sources.engine.connect() as conn:
            rows = conn.execute(select(agreement_versions.c.agreement_id, agreement_versions.c.document)
                                .where(agreement_versions.c.status == "active")).all()
        for row in rows:
            document = json.loads(row.document)
            for family, field_name in ((review, "review_date"), (end, "valid_until")):
                day = day_of(document.get(field_name))
                if day is not None:
                    family.add_metric([row.agreement_id], (day - now.date()).days)
        yield from (review, end)

    def _returns(self, now: datetime):
        overdue = GaugeMetricFamily("causeway_return_overdue",
                                    "1 for each council's periodic return whose deadline has passed unsent",
                                    labels=["org", "dataset", "period"])
        for condition in return_overdue(self.sources, now, self.settings):
            overdue.add_metric([condition.orgs[0], condition.detail["dataset"], condition.detail["period"]], 1)
        yield overdue

    def _referrals(self, now: datetime):
        # Counted per addressee: a gauge per referral would put case references on /metrics.
        overdue = GaugeMetricFamily("causeway_referrals_overdue",
                                    "Referrals addressed to an org that it has not acknowledged in the agreed time",
                                    labels=["org"])
        counts: dict[str, int] = {}
        for late in self.sources.overdue_referrals(now):
            counts[late["receiving_org"]] = counts.get(late["receiving_org"], 0) + 1
        for org, count in sorted(counts.items()):
            overdue.add_metric([org], count)
        yield overdue
