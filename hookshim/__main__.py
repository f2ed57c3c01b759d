"""``python3 -m hookshim ...``: the hookshim command line."""
import sys

from hookshim.cli import main

sys.exit(main())
