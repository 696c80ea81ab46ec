"""A proxy kind registered through the documented decorator (``nas_proxy.proxies.register``, docs/python-api.md) and
refused says the user's line in its note (review57): fix56a's note named the first frame outside registry.py, which for
this decorator is nasproxy's own (``registered at .../nas_proxy/proxies/base.py:217``)."""

from __future__ import annotations

import inspect

import pytest

from nas_proxy.errors import DuplicateNameError
from nas_proxy.proxies import Proxy, register
from nas_proxy.proxies.base import PROXY_KINDS


def test_a_proxy_kind_registered_twice_names_the_users_line() -> None:
    taken = next(iter(PROXY_KINDS._items))
    with pytest.raises(DuplicateNameError) as refused:
        site = f"{__file__}:{inspect.currentframe().f_lineno + 2}"  # type: ignore[union-attr]

        @register(taken)
        class Mine(Proxy):
            pass

    assert refused.value.__notes__ == [f"registered at {site}"]
