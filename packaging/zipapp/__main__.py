"""``python3 hookshim.pyz ...``: the zipapp's entry (hookshim.release.main)."""
import sys

from hookshim.release import main

sys.exit(main(sys.argv[1:], sys.argv[0]))
