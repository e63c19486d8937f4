"""``python -m manifold_cae`` runs the CLI."""

from manifold_cae.cli import main

main()
