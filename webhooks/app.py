"""The Flask application: small blueprints, one job each."""

from __future__ import annotations

import redis
from flask import Flask

from connector.settings import Settings, load_settings


def create_app(redis_url: str | None = None, settings: Settings | None = None) -> Flask:
    """Build the app. `redis_url` defaults to REDIS_URL; the embedded server is the CLI's job."""
    settings = settings or load_settings()
    app = Flask(__name__)
    app.config["SALESOS_SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024  # markets are small; bigger bodies get 413
    url = redis_url or settings.redis_url
    app.extensions["salesos_redis"] = redis.Redis.from_url(url, socket_connect_timeout=2) if url else None

    from webhooks.api import api
    from webhooks.health import health
    from webhooks.oauth import oauth
    from webhooks.tracking import tracking

    app.register_blueprint(health)
    app.register_blueprint(api)
    app.register_blueprint(tracking)
    app.register_blueprint(oauth)
    return app
