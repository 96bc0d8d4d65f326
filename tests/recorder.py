"""Every event an app publishes, as (topics, name, data) per publication: a test tap on the real bus."""

from __future__ import annotations

import weakref
from collections import deque
from typing import Any

from chatsvc import keys
from chatsvc.events import Event

Publication = tuple[tuple[str, ...], str, dict[str, Any]]
_recorders: weakref.WeakKeyDictionary[Any, PublishedEvents] = weakref.WeakKeyDictionary()


class PublishedEvents(deque[Publication]):
    """A tap that folds the per-topic events of one publish() back into one entry (they share one data dict)."""

    def __call__(self, event: Event) -> None:
        if self:
            topics, name, data = self[-1]
            if data is event.data and name == event.name and event.topic not in topics:
                self[-1] = ((*topics, event.topic), name, data)
                return
        self.append(((event.topic,), event.name, event.data))


async def record_events(app: Any) -> None:
    """on_startup hook (runs after the bus exists): start recording this app's events."""
    recorder = PublishedEvents(maxlen=5000)
    app[keys.EVENTS].add_tap(recorder, deltas=True)
    _recorders[app] = recorder


def publications(client: Any) -> PublishedEvents:
    """The publications of the app behind a test client, oldest first."""
    return _recorders[client.app]
