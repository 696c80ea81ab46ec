"""Which proxies a run has: every registered kind's offer, narrowed by the tokens asked for."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from nas_proxy.errors import SHOWN_MAX, InvalidArgumentError, shown
from nas_proxy.proxies.base import PROXY_KINDS, Proxy, RunSetup
from nas_proxy.trainers.synthetic_set import ProxyConfig


def _kinds() -> list[type[Proxy]]:
    """Every registered proxy kind's class, by its ``order``."""
    return sorted((cls for _, cls in PROXY_KINDS.items()), key=lambda c: c.order)


def offered(setup: RunSetup) -> list[Proxy]:
    """Every proxy this run can have, kind by kind (by each kind's ``order``)."""
    return [proxy for cls in _kinds() for proxy in cls.offer(setup)]


def select(proxies: list[Proxy], tokens: list[str] | None) -> list[Proxy]:
    """The proxies named by ``tokens`` (all for None): a token is a proxy's name (``datadam-ipc10``,
    ``early@1ep``, ``synflow``) or a family (``datadam``: all its sets; ``early``; ``training-free``)."""
    if tokens is None:
        return proxies
    for token in tokens:
        if " " in token.strip():  # the names before proxies were tokens: "datadam ipc10"
            fixed = "-".join(token.split())
            raise InvalidArgumentError(f"proxy names have no spaces: {token!r} is now {fixed!r}; write --proxies {fixed}")
    unknown = [t for t in tokens if not any(t in (p.name, p.family) for p in proxies)]
    if unknown:
        families = sorted({p.family for p in proxies} - {p.name for p in proxies})
        raise InvalidArgumentError(
            f"unknown proxies {', '.join(t if len(t) <= SHOWN_MAX else shown(t) for t in unknown)}; available here: {', '.join(p.name for p in proxies)}"
            + (f" (or a family for all its proxies: {', '.join(families)})" if families else "")
        )
    return [p for p in proxies if p.name in tokens or p.family in tokens]


def resolve(setup: RunSetup, token: str) -> Proxy:
    """The one proxy ``token`` names in ``setup``: made by name by its kind (:meth:`Proxy.named`:
    ``early@2ep``, ``random-ipc50``) or one of those offered (a set's ``datadam-ipc10``, ``synflow``).
    A family token (``training-free``) names several: refused, as is a token nothing knows."""
    token = token.strip()
    for cls in _kinds():
        proxy = cls.named(setup, token)
        if proxy is not None:
            return proxy
    available = offered(setup)
    if not any(token in (p.name, p.family) for p in available):
        patterns = [cls.pattern for cls in _kinds() if cls.pattern]
        raise InvalidArgumentError(
            f"unknown proxy {token!r}; known here: {', '.join(p.name for p in available) or 'none'}"
            + (f", or by name: {', '.join(patterns)}" if patterns else "")
        )
    chosen = select(available, [token])
    if len(chosen) > 1:
        raise InvalidArgumentError(
            f"proxy {token!r} is a family of {len(chosen)} proxies ({', '.join(p.name for p in chosen)}); name one of them"
        )
    return chosen[0]


# The proxy-training options (ProxyConfig's fields) as the command line spells them (a config file's key is the field's name).
TRAINING_FLAGS = {
    "epochs": "--epochs",
    "lr": "--lr",
    "batch_size": "--batch-size",
    "dsa": "--no-dsa",
    "report_every": "--report-every",
    "report_images": "--report-images",
    "amp": "--no-amp",
    "channels_last": "--channels-last",
    "cuda_graph": "--cuda-graph",
    "seeds": "--proxy-seeds",
    "hard_labels": "--hard-labels",
}


def training_changed(training: ProxyConfig, asked: Collection[str] | None) -> list[str]:
    """The fields of ``training`` in ``asked`` (None: every one) that are off their defaults."""
    default = ProxyConfig()
    return [n for n in TRAINING_FLAGS if (asked is None or n in asked) and getattr(training, n) != getattr(default, n)]


def check_training_used(training: ProxyConfig, proxies: Sequence[Proxy], asked: Collection[str] | None, run: str) -> None:
    """Refuse the proxy-training options of ``training`` that change nothing for ``proxies`` (a
    search's or a ``correlate``'s, resolved, not prepared): any off its default when none of them
    trains on a set, ``hard_labels`` when no set they train on holds soft labels. ``asked``: the
    fields the caller may refuse (those the user set on purpose; a proxy profile's values, which
    serve whichever proxy it is used with, are never among them); None: every field. ``run``:
    what the proxies belong to, for the message ("search", "run")."""
    changed = training_changed(training, asked)
    if not changed:
        return
    names = ", ".join(p.name for p in proxies)
    on_sets = [p for p in proxies if p.reports]  # only a proxy that trains on a set reports as it trains, with these options
    if not on_sets:
        flags = ", ".join(TRAINING_FLAGS[n] for n in changed)
        raise InvalidArgumentError(
            f"{flags} (proxy training on a set) change{'s' if len(changed) == 1 else ''} nothing with {names}: "
            f"no proxy of this {run} trains on a set (a distilled set or random-ipcN does): drop {'it' if len(changed) == 1 else 'them'}"
        )
    if "hard_labels" in changed and not any(getattr(p, "has_soft_labels", False) for p in on_sets):
        raise InvalidArgumentError(
            f"--hard-labels changes nothing with {names}: no set it trains on has soft labels (distill --soft-labels): drop it"
        )
