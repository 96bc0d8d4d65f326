"""chatsvc command line: `python run.py` (serve), `create-user`, `migrate`. See README.md."""

import sys

from chatsvc.cli import main

if __name__ == "__main__":
    sys.exit(main())
