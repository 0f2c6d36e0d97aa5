"""Entry point for gunicorn/flask: `gunicorn wsgi:app` with REDIS_URL set."""

from connector.redaction import configure_logging
from webhooks.app import create_app

configure_logging()  # gunicorn's access and error logs too: tokens in URLs never reach a log line
app = create_app()
