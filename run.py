"""chatsvc command line: `python run.py` (serve), `create-user`, `migrate`. See README.md."""

import multiprocessing
import sys

from chatsvc.cli import main

if __name__ == "__main__":
    # In the self-contained executable (chatsvc/binary.py) agent workers and the fork server are started from the
    # executable itself: this hands such a start to multiprocessing instead of the command line. No-op otherwise.
    multiprocessing.freeze_support()
    sys.exit(main())
