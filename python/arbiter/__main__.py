"""`python -m arbiter` delegates to the command line."""

from arbiter.cli import main

raise SystemExit(main())
