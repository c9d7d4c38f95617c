"""``python -m octavius``."""

from octavius.cli import main

raise SystemExit(main())
