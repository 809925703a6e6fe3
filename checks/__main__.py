"""``python -m checks``: see checks/cli.py and the README."""

from checks.cli import main

raise SystemExit(main())
