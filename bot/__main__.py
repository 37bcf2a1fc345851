"""``python -m bot`` is the same as the ``matinee`` console script."""

from .cli import main

raise SystemExit(main())
