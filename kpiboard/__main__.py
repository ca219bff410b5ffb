"""``python -m kpiboard`` runs the command line."""

from kpiboard.cli import main

main()
