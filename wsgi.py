"""Entry point for gunicorn/flask: `gunicorn wsgi:app` with REDIS_URL set."""

from webhooks.app import create_app

app = create_app()
