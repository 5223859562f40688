"""``python -m glare_core`` runs the ``glare`` command."""

from glare_core.cli import run

run()
