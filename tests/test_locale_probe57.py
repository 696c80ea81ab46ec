"""Names whose bytes are UTF-8 read by a Python that reads arguments and file names as ASCII (the C locale, with
PYTHONUTF8=0 and PYTHONCOERCECLOCALE=0): one rule (``checks.not_utf8``) for arguments and image folders names the locale
and its fix; a byte that is not UTF-8 is still "a name in another encoding". Before branch probe57 ``--out sé`` was
refused as "a byte that is not UTF-8 (a name in another encoding) ... rename it", though its bytes are UTF-8."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nas_proxy import checks

C_LOCALE = {"LANG": "C", "LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}


def test_an_argument_of_utf8_bytes_under_the_c_locale_names_the_locale(tmp_path: Path) -> None:
    env = {**os.environ, **C_LOCALE}
    done = subprocess.run(
        [sys.executable, "-m", "nas_proxy", "distill", "--dataset", "digits", "--ipc", "1", "--out", "sé"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        errors="backslashreplace",
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "argument --out: 's\\udcc3\\udca9': its bytes b's\\xc3\\xa9' are UTF-8, but this Python reads" in lines[0]
    assert "set LANG=C.UTF-8 or PYTHONUTF8=1" in lines[0]
    assert "another encoding" not in lines[0]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("encoding", "text", "expected"),
    [
        ("utf-8", "sé", None),
        ("utf-8", "caf\udce9", "another encoding"),  # Latin-1's 'café', as a UTF-8 Python decodes it
        ("ascii", "caf\udce9", "another encoding"),  # not UTF-8 whatever the locale
        ("ascii", "s\udcc3\udca9", "locale"),  # UTF-8 'sé' as an ASCII Python decodes it
    ],
)
def test_one_rule_tells_another_encoding_from_the_locale(
    monkeypatch: pytest.MonkeyPatch, encoding: str, text: str, expected: str | None
) -> None:
    monkeypatch.setattr(sys, "getfilesystemencoding", lambda: encoding)
    problem = checks.not_utf8(text, "file names")
    if expected is None:
        assert problem is None
    elif expected == "locale":
        assert problem is not None and problem.locale == encoding
        assert problem.why == f"its bytes {os.fsencode(text)!r} are UTF-8, but this Python reads file names as ascii (the C locale)"
    else:
        assert problem is not None and problem.locale is None
