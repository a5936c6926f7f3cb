"""Wall time per phase of a job, and throughput figures, as every job reports them."""

import time


class PhaseTimer:
    """Wall seconds per named phase, each measured from the end of the one before."""

    def __init__(self) -> None:
        self.started = self._last = time.monotonic()
        self.seconds: dict[str, float] = {}

    def end(self, name: str) -> None:
        """Close phase ``name`` now."""
        now = time.monotonic()
        self.seconds[name] = round(now - self._last, 3)
        self._last = now

    def total(self) -> float:
        """Seconds since the timer started."""
        return round(time.monotonic() - self.started, 3)


def rate(items: int, seconds: float, cores: int) -> dict[str, float]:
    """Images per second overall and per executor core."""
    per_s = items / max(seconds, 1e-9)
    return {"images_per_s": round(per_s, 2), "images_per_s_per_core": round(per_s / max(cores, 1), 2)}
