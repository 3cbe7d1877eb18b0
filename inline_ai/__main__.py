"""``python -m inline_ai`` runs the ``inline-ai`` command."""

from inline_ai.cli import main

raise SystemExit(main())
