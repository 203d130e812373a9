"""The app factory: the one place where the hub's parts are wired together."""
from __future__ import annotations

import copy
import functools
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable

import connexion
import yaml
from connexion.middleware import MiddlewarePosition
from connexion.options import SwaggerUIOptions
from flask import request
from sqlalchemy.engine import Engine
from werkzeug.exceptions import HTTPException

from hub import sealing
from hub.agentconfig.service import AgentConfigService
from hub.alerts import rules as _alert_rules  # noqa: F401  (registers the built-in rules)
from hub.alerts.measures import AlertMeasures
from hub.alerts.registry import Sources as AlertSources
from hub.alerts.service import AlertService
from hub.auth import Principal
from hub.benchmarks.service import BenchmarkService
from hub.config import Settings
from hub.console import init_console
from hub.console.service import AccountService
from hub.console.service import secret_key as console_secret_key
from hub.coverage.service import CoverageService
from hub.db import WalCheckpointer, make_engine, utcnow
from hub.delivery.runner import build_worker
from hub.delivery.service import DeliveryService, read_lag
from hub.delivery.webhook import WebhookSender
from hub.delivery.worker import Worker
from hub.errors import HubError
from hub.health.metrics import Metrics
from hub.health.scrape import metrics_view
from hub.health.service import HealthService
from hub.jobs import start_jobs
from hub.jsonprovider import OrjsonProvider
from hub.middleware import (
    ROUTE_KEY,
    BodyLimitMiddleware,
    ContractGuardMiddleware,
    PathGuardMiddleware,
    ProtocolHeadersMiddleware,
    RequestMetricsMiddleware,
    ServicesMiddleware,
    operation_routes,
)
from hub.opendata.aggregates import OpenAggregates
from hub.opendata.alerts import ResidentAlerts
from hub.opendata.service import OpenData
from hub.opendata.views import open_data as open_data_pages
from hub.orgs.service import OrgService
from hub.page_headers import init_page_headers
from hub.parameter_validation import NamingParameterValidator
from hub.policy.service import PolicyService
from hub.problems import Problem, problem_for, problem_response, unexpected_problem
from hub.records.events import CloudEvents
from hub.records.publish_route import PublishRoute
from hub.records.retention import Retention
from hub.records.service import Catalogue, RecordService
from hub.referrals import alert_rule as _referral_alert_rule  # noqa: F401  (registers its alert rule)
from hub.referrals.service import ReferralService
from hub.referrals.vacancies import INTERVAL_SECONDS as VACANCY_INTERVAL_SECONDS
from hub.referrals.vacancies import withdraw_expired_vacancies
from hub.returns.derived import DerivedReturns
from hub.returns.feeds import keep_feed_tokens_out_of_logs
from hub.returns.mail import SmtpMailer
from hub.returns.reminders import ReminderService
from hub.returns.scheduler import send_reminders
from hub.returns.service import ReturnService
from hub.validation import VALIDATOR_MAP

log = logging.getLogger("causeway.hub")


@dataclass
class Jobs:
    """The background jobs a serving hub runs (return reminders, record retention, open data, alerts), by
    `hub.jobs`, and on SQLite its checkpointer."""
    schedulers: list
    checkpointer: WalCheckpointer | None = None

    def shutdown(self) -> None:
        for scheduler in self.schedulers:
            scheduler.shutdown(wait=False)
        if self.checkpointer is not None:
            self.checkpointer.stop()


@dataclass
class Services:
    settings: Settings
    engine: Engine
    orgs: OrgService
    catalogue: Catalogue
    records: RecordService
    metrics: Metrics
    health: HealthService
    accounts: AccountService
    policy: PolicyService
    returns: ReturnService
    reminders: ReminderService
    delivery: DeliveryService
    retention: Retention
    coverage: CoverageService
    referrals: ReferralService
    benchmarks: BenchmarkService
    open_data: OpenData
    resident_alerts: ResidentAlerts
    open_aggregates: OpenAggregates
    agent_config: AgentConfigService
    alerts: AlertService
    derived_returns: DerivedReturns
    clock: Callable[[], datetime] = utcnow

    def worker(self, worker_id: str | None = None, channels: dict | None = None) -> Worker:
        """A delivery worker over these services (not started); `serve` runs one, `deliver` is one."""
        return build_worker(self, worker_id=worker_id, channels=channels)

    def start_jobs(self) -> Jobs:
        """Start the reminder, retention, open-data and alert jobs (each runs once at once, then every interval)."""
        return Jobs([start_jobs({
            "returns-reminders": (lambda: send_reminders(self.reminders), self.settings.reminder_interval_seconds),
            "records-retention": (self.retention.run, self.settings.retention_interval_seconds),
            "vacancy-closing-dates": (lambda: withdraw_expired_vacancies(self.engine, self.records, self.clock),
                                      VACANCY_INTERVAL_SECONDS),
            "open-data": (self._open_data_round, self.settings.open_data_interval_seconds),
            "open-aggregates": (self.open_aggregates.compute, self.settings.open_aggregates_interval_seconds),
            "alerts": (self.alerts.run, self.settings.alerts.interval_seconds),
            "derived-returns": (self.derived_returns.run, self.settings.derived_returns_interval_seconds)})],
            WalCheckpointer(self.engine).start() if self.engine.dialect.name == "sqlite" else None)

    def _open_data_round(self) -> None:
        """Publish what is new to the public, then tell the residents who asked."""
        self.open_data.project()
        self.resident_alerts.send_due()
        self.resident_alerts.forget_unconfirmed()


def open_engine(settings: Settings, engine: Engine | None = None) -> Engine:
    """The database engine with the secrets sealer attached; enough for commands that run
    before the schema exists (`init`, the secrets commands)."""
    engine = engine or make_engine(settings.db_url)
    sealing.use(engine, sealing.sealer_for(settings.db_url, settings.delivery.secrets_key, settings.secrets_key_file))
    return engine


def build_services(settings: Settings, engine: Engine | None = None,
                   clock: Callable[[], datetime] | None = None) -> Services:
    """The hub's one composition root. `clock` is the hub's idea of now, handed to every
    service (tests inject one to place things in time); only `hub.db.utcnow` reads the real time."""
    engine = open_engine(settings, engine)
    clock = clock or utcnow
    orgs = OrgService(engine, clock=clock)
    catalogue = Catalogue(engine, settings.max_nesting_depth)
    metrics = Metrics()
    metrics.watch_delivery_lag(lambda: read_lag(engine, clock))
    policy = PolicyService(engine, catalogue, lambda slug: orgs.get_org(slug) is not None,
                           events=CloudEvents(settings.public_url),
                           max_source_bytes=settings.agreement_source_max_bytes, clock=clock,
                           public_steward=settings.hub_operator)
    returns = ReturnService(engine, catalogue, clock, policy.providers_sharing_with)
    health = HealthService(engine, orgs.list_agents, clock=clock, hub_operator=settings.hub_operator)
    open_data = OpenData(engine, catalogue, policy, clock=clock)
    mailer = SmtpMailer(settings.smtp_host, settings.smtp_port, settings.smtp_from, settings.smtp_starttls,
                        settings.smtp_username, settings.smtp_password)
    webhooks = WebhookSender(settings.webhook_allowed_networks)
    coverage = CoverageService(engine, catalogue, orgs.list_orgs, health.summaries, policy.promised_cadences,
                               clock=clock, hub_operator=settings.hub_operator,
                               min_agent_version=settings.min_agent_version)
    # The alert job reads every council's coverage, as an admin would (it shows only what each reader may see).
    alert_job = Principal(org=settings.hub_operator or "hub", role="admin", credential_id="alert-job")
    referrals = ReferralService(engine, policy, clock=clock)
    alert_sources = AlertSources(engine, health.summaries, lambda: coverage.coverage(alert_job), returns,
                                 referrals.overdue_referrals)
    metrics.registry.register(AlertMeasures(alert_sources, settings.alerts, clock))
    return Services(
        settings=settings,
        engine=engine,
        orgs=orgs,
        catalogue=catalogue,
        records=RecordService(engine, catalogue, settings, orgs.agent_public_key, clock=clock),
        metrics=metrics,
        health=health,
        accounts=AccountService(engine, clock=clock),
        policy=policy,
        delivery=DeliveryService(engine, catalogue, settings, policy=policy, clock=clock),
        returns=returns,
        reminders=ReminderService(engine, returns, mailer, webhooks, settings.reminder_catchup_days, clock=clock,
                                  public_url=settings.public_url),
        retention=Retention(engine, settings.hub_retention_days, clock=clock),
        coverage=coverage,
        open_data=open_data,
        open_aggregates=OpenAggregates(engine, policy, clock=clock),
        resident_alerts=ResidentAlerts(engine, open_data, mailer, settings.public_url,
                                       key=lambda: settings.secret_key or console_secret_key(engine), clock=clock),
        agent_config=AgentConfigService(engine, orgs.get_agent, health.latest_report, clock=clock,
                                        hub_operator=settings.hub_operator),
        referrals=referrals,
        benchmarks=BenchmarkService(engine, returns, clock, policy.active_agreements),
        alerts=AlertService(engine, alert_sources, settings, mailer, webhooks, catalogue, clock=clock),
        derived_returns=DerivedReturns(engine, returns, clock),
        clock=clock,
    )


@functools.lru_cache(maxsize=1)
def _contract() -> dict:
    """hub/openapi.yaml, parsed once per process (with libyaml when available)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load((Path(__file__).parent / "openapi.yaml").read_text(encoding="utf-8"), Loader=loader)


def create_app(settings: Settings | None = None, services: Services | None = None) -> connexion.FlaskApp:
    settings = settings or (services.settings if services else Settings())
    services = services or build_services(settings)

    keep_feed_tokens_out_of_logs()  # a calendar feed's address is its credential
    contract = copy.deepcopy(_contract())
    base_path = contract["servers"][0]["url"]
    app = connexion.FlaskApp(__name__, specification_dir=str(Path(__file__).parent))
    app.add_api(contract, strict_validation=True, validate_responses=False,
                validator_map={**VALIDATOR_MAP, "parameter": NamingParameterValidator},
                swagger_ui_options=SwaggerUIOptions(swagger_ui=False))
    # Outermost first: see hub/middleware.py.
    app.add_middleware(RequestMetricsMiddleware, position=MiddlewarePosition.BEFORE_EXCEPTION, metrics=services.metrics)
    app.add_middleware(ProtocolHeadersMiddleware, position=MiddlewarePosition.BEFORE_EXCEPTION)
    app.add_middleware(ServicesMiddleware, position=MiddlewarePosition.BEFORE_EXCEPTION, services=services)
    app.add_middleware(BodyLimitMiddleware, position=MiddlewarePosition.BEFORE_EXCEPTION,
                       max_bytes=settings.max_batch_bytes)
    app.add_middleware(PublishRoute, position=MiddlewarePosition.BEFORE_EXCEPTION, base_path=base_path)
    app.add_middleware(PathGuardMiddleware, position=MiddlewarePosition.BEFORE_ROUTING, base_path=base_path)
    app.add_middleware(ContractGuardMiddleware, position=MiddlewarePosition.BEFORE_SECURITY, base_path=base_path,
                       templates=operation_routes(contract, base_path))

    flask_app = app.app
    flask_app.extensions["causeway"] = services
    flask_app.json = OrjsonProvider(flask_app)

    @flask_app.errorhandler(Problem)
    def _problem(problem: Problem):
        return problem_response(problem)

    @flask_app.errorhandler(HubError)
    def _hub_error(error: HubError):
        return problem_response(problem_for(error))

    @flask_app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        return problem_response(Problem(exc.code or 500, exc.name, exc.description or exc.name))

    @flask_app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return problem_response(unexpected_problem())

    @flask_app.after_request
    def _name_route(response):
        """Pages outside the contract (console, /metrics) are labelled by their Flask rule."""
        route = request.environ.get("asgi.scope", {}).get(ROUTE_KEY)
        if route is not None and "route" not in route and request.url_rule is not None:
            route["route"] = request.url_rule.rule
        return response

    init_console(flask_app, services)
    flask_app.register_blueprint(open_data_pages)
    init_page_headers(flask_app)

    flask_app.add_url_rule("/metrics", "metrics", metrics_view(services))

    return app
