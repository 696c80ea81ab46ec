"""Fidelity ladders: the spec ``"random-ipc10:1.0,early@1ep:0.2,full:3"``.

A ladder is a comma-separated list of rungs ``PROXY:KEEP``, cheapest first. Every candidate gets the
first rung (``KEEP`` 1.0, or left out); the best of those by its score climb to the next rung, and so
on; the last rung, ``full``, is real training of a count of candidates, and the pick among them is
by validation accuracy. ``KEEP`` is a fraction of **all** the candidates (a float in (0, 1]: 0.2 of
100 candidates is 20, rounded up, at least 1) or a count (an integer >= 1); a rung never keeps more
than the rung before it (a count larger than the previous rung's candidates is cut to them).

Pure (the standard library, the project's error type and its limits): ``search --ladder`` climbs it in one study
(:mod:`nas_proxy.search.ladder`), ``benchmarks/ladder.py`` simulates it on a ground-truth table.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from nas_proxy.checks import INT_MAX
from nas_proxy.errors import InvalidArgumentError

FULL = "full"  # the last rung's proxy: a real training, picked by validation accuracy
_COUNT = re.compile(r"[0-9]+")
_FLOAT = re.compile(r"[0-9]*\.[0-9]+|[0-9]+\.[0-9]*")
_TOKEN = re.compile(r"[A-Za-z0-9_@.+-]+")  # a proxy token (datadam-ipc10, early@0.1ep, grad_norm)
_NUMBER = re.compile(r"[0-9]+\.?[0-9]*(?:[eE][+-]?[0-9]+)?|\.[0-9]+")  # a number inside a token (the 1.0 of early@1.0ep)


@dataclass(frozen=True)
class Rung:
    """One rung: ``proxy`` (a proxy token, or ``full``) and ``keep``, how many candidates get it: a
    fraction of all the candidates (float in (0, 1]) or a count (int >= 1)."""

    proxy: str
    keep: float | int

    @property
    def is_count(self) -> bool:
        """Whether ``keep`` is a count (it stays fixed when the space grows) rather than a fraction."""
        return isinstance(self.keep, int)

    def size(self, n: int, previous: int | None = None) -> int:
        """How many of ``n`` candidates get this rung, when ``previous`` got the rung before it."""
        # a fraction rounds up (at least 1); round() first: 0.07 * 100 is 7.000000000000001
        wanted = self.keep if isinstance(self.keep, int) else max(1, math.ceil(round(self.keep * n, 9)))
        return min(wanted, n if previous is None else previous)

    def __str__(self) -> str:
        return f"{self.proxy}:{self.keep}"


def is_token(text: str) -> bool:
    """Whether ``text`` can name a proxy in a ladder spec (letters, digits, ``_@.+-``)."""
    return bool(_TOKEN.fullmatch(text))


def sizes(rungs: Sequence[Rung], n: int) -> list[int]:
    """How many of ``n`` candidates get each rung."""
    out: list[int] = []
    for rung in rungs:
        out.append(rung.size(n, out[-1] if out else None))
    return out


def format_ladder(rungs: Iterable[Rung]) -> str:
    """The spec text of ``rungs`` (what :func:`parse_ladder` reads back)."""
    return ",".join(str(r) for r in rungs)


def _keep(text: str, spec: str, where: str) -> float | int:
    if _COUNT.fullmatch(text):
        count = int(text)
        if count < 1:
            raise InvalidArgumentError(f"ladder {spec!r}: {where} keeps {text}; a count must be at least 1")
        if count > INT_MAX:
            raise InvalidArgumentError(f"ladder {spec!r}: {where} keeps {text}; a count must be at most {INT_MAX}")
        return count
    if _FLOAT.fullmatch(text) and 0.0 < float(text) <= 1.0:
        return float(text)
    raise InvalidArgumentError(
        f"ladder {spec!r}: {where} keeps {text!r}; write a fraction of the candidates in (0, 1] (0.2) or a count >= 1 (3)"
    )


def parse_ladder(text: str, proxies: Iterable[str] | None = None) -> tuple[Rung, ...]:
    """The rungs of ``"random-ipc10:1.0,early@1ep:0.2,full:3"``; ``proxies``: the known tokens, if
    they are to be checked (``full`` is always known). Raises :class:`InvalidArgumentError` with one
    line naming the rule, the rung and the fix."""
    spec = text.strip()
    parts = [p.strip() for p in spec.split(",")]
    if not spec or "" in parts:
        raise InvalidArgumentError(f"ladder {text!r}: write comma-separated rungs PROXY:KEEP, e.g. 'random-ipc10:1.0,early@1ep:0.2,full:3'")
    if len(parts) < 2:
        raise InvalidArgumentError(f"ladder {spec!r}: needs at least two rungs, a proxy on every candidate then 'full:K'")
    rungs: list[Rung] = []
    for i, part in enumerate(parts):
        where = f"rung {i + 1} ({part!r})"
        proxy, sep, keep_text = (p.strip() for p in part.partition(":"))
        if not _TOKEN.fullmatch(proxy):
            raise InvalidArgumentError(f"ladder {spec!r}: {where} needs a proxy token before ':' (letters, digits, _@.+-), got {proxy!r}")
        if not sep and i > 0:
            raise InvalidArgumentError(f"ladder {spec!r}: {where} needs ':KEEP' (a fraction such as 0.2, or a count such as 3)")
        rungs.append(Rung(proxy, _keep(keep_text, spec, where) if sep else 1.0))
    _check(rungs, spec, proxies)
    return tuple(rungs)


def _check(rungs: list[Rung], spec: str, proxies: Iterable[str] | None) -> None:
    first, last = rungs[0], rungs[-1]
    if first.proxy == FULL:
        raise InvalidArgumentError(f"ladder {spec!r}: the first rung is a proxy every candidate gets, not {FULL!r}")
    if first.keep != 1.0 or first.is_count:
        raise InvalidArgumentError(f"ladder {spec!r}: every candidate gets the first rung; write {first.proxy}:1.0, not :{first.keep}")
    if last.proxy != FULL or not last.is_count:
        raise InvalidArgumentError(f"ladder {spec!r}: the last rung is real training of a count of candidates, e.g. '{FULL}:3'")
    names = [r.proxy for r in rungs]
    if FULL in names[:-1]:
        raise InvalidArgumentError(f"ladder {spec!r}: {FULL!r} can only be the last rung")
    seen: dict[str, str] = {}
    for name in names:
        key = _NUMBER.sub(lambda m: repr(float(m.group())), name)  # early@1ep is early@1.0ep, random-ipc10 random-ipc010
        if key in seen:
            same = f"{name} appears twice" if seen[key] == name else f"{seen[key]} and {name} are one proxy"
            raise InvalidArgumentError(f"ladder {spec!r}: {same}; each proxy is one rung")
        seen[key] = name
    for i, (a, b) in enumerate(pairwise(rungs), start=2):
        if a.is_count and not b.is_count:
            raise InvalidArgumentError(f"ladder {spec!r}: rung {i} keeps a fraction after a count; after a count, write counts")
        if a.is_count == b.is_count and b.keep > a.keep:
            raise InvalidArgumentError(f"ladder {spec!r}: rung {i} keeps {b.keep}, more than rung {i - 1}'s {a.keep}; a ladder narrows")
    if proxies is not None:
        known = set(proxies) | {FULL}
        unknown = [p for p in names if p not in known]
        if unknown:
            raise InvalidArgumentError(f"ladder {spec!r}: unknown proxies {', '.join(unknown)}; known here: {', '.join(sorted(known))}")


__all__ = ["FULL", "Rung", "format_ladder", "is_token", "parse_ladder", "sizes"]
