"""CLI commands of this stage (registered on the shared typer app)."""

from __future__ import annotations

from ._app import app  # noqa: F401
