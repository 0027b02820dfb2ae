"""``python -m brainscore_speech`` runs the CLI."""

from .cli import main

main()
