"""`python -m fixproof`: the command line (fixproof.cli)."""

from fixproof.cli import main

raise SystemExit(main())
