"""`python -m landing` is the `landing` command."""

from landing.cli import main

raise SystemExit(main())
