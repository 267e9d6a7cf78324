"""ASGI entry point for uvicorn: ``gateway.api.main:app`` (settings from the environment)."""

from gateway.api.app import create_app

app = create_app()
