"""The Flask application: small blueprints, one job each."""

from __future__ import annotations

import redis
from flask import Flask

from connector.settings import Settings, load_settings
from webhooks.body_limit import BoundedRequest


def create_app(redis_url: str | None = None, settings: Settings | None = None, dashboard: bool | None = None) -> Flask:
    """Build the app. `redis_url` defaults to REDIS_URL; the embedded server is the CLI's job.

    `dashboard` mounts rq-dashboard at /rq (operator key only, read only); None reads SALESOS_DASHBOARD.
    """
    settings = settings or load_settings()
    app = Flask(__name__)
    app.request_class = BoundedRequest
    app.config["SALESOS_SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024  # markets are small; bigger bodies get 413, chunked ones too
    url = redis_url or settings.redis_url
    app.extensions["salesos_redis"] = redis.Redis.from_url(url, socket_connect_timeout=2) if url else None

    from webhooks.api import answer_errors_as_json, api
    from webhooks.engagement import engagement
    from webhooks.health import dashboard_enabled, health, mount_dashboard
    from webhooks.hubspot_events import mount as mount_hubspot_webhooks
    from webhooks.inbound_parse import inbound_parse
    from webhooks.oauth import oauth
    from webhooks.response_headers import add_response_headers
    from webhooks.salesforce_events import salesforce_events
    from webhooks.tracking import tracking
    from webhooks.twilio import twilio_webhooks
    from webhooks.calls import calls
    from webhooks.workflow_actions import workflow_actions

    add_response_headers(app)
    app.register_blueprint(health)
    app.register_blueprint(api)
    answer_errors_as_json(app)
    app.register_blueprint(tracking)
    app.register_blueprint(engagement)
    app.register_blueprint(oauth)
    app.register_blueprint(salesforce_events)
    app.register_blueprint(workflow_actions)
    app.register_blueprint(inbound_parse)
    app.register_blueprint(twilio_webhooks)
    app.register_blueprint(calls)
    if url and (dashboard_enabled() if dashboard is None else dashboard):
        mount_dashboard(app, url)
    mount_hubspot_webhooks(app)  # outermost: HubSpot's stream skips Flask (webhooks.hubspot_events)
    return app


def close_app(app: Flask) -> None:
    """Close the app's Redis connections, so an embedded Redis can stop when the server does.

    An open connection makes the embedded server look used by another process, and it is left running.
    """
    clients = [app.extensions.get(name) for name in ("salesos_intake", "salesos_redis")]
    clients.append(getattr(app, "redis_conn", None))  # rq-dashboard's, when it is mounted
    for client in clients:
        if client is not None:
            client.close()
