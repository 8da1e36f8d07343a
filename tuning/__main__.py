"""`python -m tuning ...` runs the `kerakit tune` subcommand on its own."""

import sys

from tuning.cli import main

sys.exit(main())
