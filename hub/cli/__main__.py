"""`python -m hub.cli`: the same as `causeway-hub`."""
import sys

from hub.cli import main

sys.exit(main())
