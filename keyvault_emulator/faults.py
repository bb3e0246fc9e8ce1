"""Fault injection: latency, transient 5xx, dropped connections, throttling, short pages,
and redirects to another host (a client must not follow them with its token).

Settable from Python (`emulator.faults.fail_next(2)`) or over HTTP
(`POST /_emulator/faults` with the JSON that `configure` takes). Faults aim at vault
requests unless `kinds` names others ("token", "discovery", or vault kinds like "set").
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from keyvault_emulator.ratelimit import RateLimit, RateLimiter

IDENTITY_KINDS = frozenset({"token", "discovery"})
DROP = "drop"


@dataclass(frozen=True)
class Redirect:
    """Answer 307 with this Location instead of serving the request."""

    location: str


@dataclass
class _Countdown:
    remaining: int
    status: int | str | Redirect  # an HTTP status, DROP, or a redirect
    kinds: frozenset[str] | None


@dataclass
class _Fraction:
    fraction: float
    status: int
    kinds: frozenset[str] | None
    rng: random.Random


def _kinds(kinds: Iterable[str] | None) -> frozenset[str] | None:
    return None if kinds is None else frozenset(kinds)


def _applies(kinds: frozenset[str] | None, kind: str) -> bool:
    return kind not in IDENTITY_KINDS if kinds is None else kind in kinds


def _status(status: int) -> int:
    if not 500 <= status <= 599:
        raise ValueError(f"injected failures must be 5xx, not {status}")
    return status


class Faults:
    def __init__(
        self,
        *,
        latency_ms: float = 0.0,
        rate_limit: RateLimit | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self._monotonic = monotonic
        self.latency_ms = latency_ms
        # Key Vault may hand out a page with fewer items than asked for, and still a
        # nextLink, even an empty last page: clients must follow links, not count items.
        self.short_pages = False
        self._countdowns: list[_Countdown] = []
        self._fraction: _Fraction | None = None
        self._limiter: RateLimiter | None = None
        # Throttling is Key Vault's behaviour, not a fault: clear() puts it back.
        self._default_limit = rate_limit
        self.set_rate_limit(rate_limit)

    # --- the Python API ----------------------------------------------------------

    def fail_next(self, count: int, status: int = 503, kinds: Iterable[str] | None = None) -> None:
        """The next `count` matching requests get `status` (a 5xx) without being served."""
        with self._lock:
            self._countdowns.append(_Countdown(count, _status(status), _kinds(kinds)))

    def fail_fraction(
        self,
        fraction: float,
        status: int = 503,
        kinds: Iterable[str] | None = None,
        seed: int | None = None,
    ) -> None:
        """Each matching request fails with probability `fraction` (0 turns it off)."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError("fraction must be within [0, 1]")
        with self._lock:
            self._fraction = (
                _Fraction(fraction, _status(status), _kinds(kinds), random.Random(seed))
                if fraction
                else None
            )

    def drop_next(self, count: int, kinds: Iterable[str] | None = None) -> None:
        """The next `count` matching requests see their connection closed, no answer."""
        with self._lock:
            self._countdowns.append(_Countdown(count, DROP, _kinds(kinds)))

    def redirect_next(
        self, count: int, location: str, kinds: Iterable[str] | None = None
    ) -> None:
        """The next `count` matching requests are answered 307 to `location`."""
        with self._lock:
            self._countdowns.append(_Countdown(count, Redirect(location), _kinds(kinds)))

    def set_rate_limit(self, limit: RateLimit | None) -> None:
        """Key Vault-like throttling (RateLimit() has the service's numbers); None is off."""
        with self._lock:
            self._limiter = RateLimiter(limit, self._monotonic) if limit else None

    @property
    def rate_limit(self) -> RateLimit | None:
        limiter = self._limiter
        return limiter.limit if limiter else None

    def clear(self) -> None:
        with self._lock:
            self.latency_ms = 0.0
            self.short_pages = False
            self._countdowns.clear()
            self._fraction = None
            limit = self._default_limit
            self._limiter = RateLimiter(limit, self._monotonic) if limit else None

    # --- what the app asks -------------------------------------------------------

    def decide(self, kind: str) -> int | str | Redirect | None:
        """A 5xx status, DROP, a Redirect, or None to serve the request normally."""
        with self._lock:
            for countdown in self._countdowns:
                if countdown.remaining > 0 and _applies(countdown.kinds, kind):
                    countdown.remaining -= 1
                    self._countdowns = [c for c in self._countdowns if c.remaining > 0]
                    return countdown.status
            fraction = self._fraction
            if (
                fraction
                and _applies(fraction.kinds, kind)
                and fraction.rng.random() < fraction.fraction
            ):
                return fraction.status
        return None

    def admit(self, vault: str, kind: str) -> int | None:
        """None to go on; else Retry-After seconds for a 429."""
        limiter = self._limiter
        return limiter.admit(vault, kind == "set") if limiter else None

    # --- the admin API -----------------------------------------------------------

    def configure(self, spec: dict[str, Any]) -> None:
        """Apply the keys present; a ValueError describes a bad spec."""
        known = {
            "latency_ms",
            "short_pages",
            "fail_next",
            "fail_fraction",
            "drop_next",
            "redirect_next",
            "rate_limit",
        }
        unknown = set(spec) - known
        if unknown:
            raise ValueError(f"unknown fault settings {sorted(unknown)}; known {sorted(known)}")
        try:
            if "latency_ms" in spec:
                self.latency_ms = max(0.0, float(spec["latency_ms"]))
            if "short_pages" in spec:
                self.short_pages = bool(spec["short_pages"])
            if "fail_next" in spec:
                self.fail_next(**spec["fail_next"])
            if "fail_fraction" in spec:
                self.fail_fraction(**spec["fail_fraction"])
            if "drop_next" in spec:
                self.drop_next(**spec["drop_next"])
            if "redirect_next" in spec:
                self.redirect_next(**spec["redirect_next"])
            if "rate_limit" in spec:
                limit = spec["rate_limit"]
                self.set_rate_limit(RateLimit(**limit) if limit is not None else None)
        except TypeError as error:  # a wrong argument name inside one of the settings
            raise ValueError(str(error)) from None

    def describe(self) -> dict[str, Any]:
        with self._lock:
            limiter = self._limiter
            fraction = self._fraction
            return {
                "latency_ms": self.latency_ms,
                "short_pages": self.short_pages,
                "pending": [
                    {
                        "remaining": c.remaining,
                        "status": c.status if not isinstance(c.status, Redirect) else 307,
                        "kinds": sorted(c.kinds) if c.kinds is not None else None,
                    }
                    for c in self._countdowns
                ],
                "fail_fraction": (
                    {"fraction": fraction.fraction, "status": fraction.status} if fraction else None
                ),
                "rate_limit": asdict(limiter.limit) if limiter else None,
            }
