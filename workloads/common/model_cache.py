"""Models loaded once per process: a Spark Python worker serves many tasks, and each would otherwise
load its model again."""

import time
from collections import Counter
from collections.abc import Callable, Hashable
from typing import TypeVar

T = TypeVar("T")
_LOADED: dict[Hashable, object] = {}


def load_once(key: Hashable, load: Callable[[], T], seconds: Counter | None = None) -> T:
    """``load()``'s result, cached under ``key`` for the life of this process.

    Time spent loading is added to ``seconds["load"]`` when given.
    """
    if key not in _LOADED:
        start = time.perf_counter()
        _LOADED[key] = load()
        if seconds is not None:
            seconds["load"] += time.perf_counter() - start
    return _LOADED[key]  # type: ignore[return-value]
