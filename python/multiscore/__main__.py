"""``python -m multiscore serve MODEL [flags]``: see multiscore/cli.py."""

import sys

from multiscore.cli import main

sys.exit(main())
