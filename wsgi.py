"""WSGI entry point: `gunicorn wsgi:app`."""
from bcapi import create_app

app = create_app()
