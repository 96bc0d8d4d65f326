"""The security event log: one structured line per event that matters to whoever watches for attacks.

Refusals (401, 403, 429, 503 busy), failed logins and revoked sessions, each as one JSON object on the logger
`chatsvc.security` with the event, the user id when known and the client's address (the real one behind a
trusted proxy). Never a password, token, cookie or request body. Logging is off the loop (cli.log_off_the_loop).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

log = logging.getLogger("chatsvc.security")


def security_event(event: str, **fields: Any) -> None:
    """Log one security event; fields with value None are left out."""
    if log.isEnabledFor(logging.INFO):
        record = {"event": event, "ts": round(time.time(), 3), **{k: v for k, v in fields.items() if v is not None}}
        log.info(json.dumps(record, separators=(",", ":"), default=str))
