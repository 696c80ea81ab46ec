"""The set-up scripts' logic that is not a shell one-liner: ``scripts/uv_args.py`` (pip's
configuration handed to uv by ``scripts/venv.sh``)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def _uv_args():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("uv_args", SCRIPTS / "uv_args.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.uv_args


PIP_CONFIG = """\
:env:.cert='/etc/ssl/certs/ca-certificates.crt'
:env:.default-timeout='180'
:env:.find-links='/opt/wheels'
global.cert='/etc/ssl/certs/other.pem'
global.constraint='/etc/xdg/pip/constraints.txt'
global.extra-index-url='file:///opt/pypi/simple file:///opt/pypi-more/simple'
global.find-links='/opt/wheels'
install.index-url='https://mirror.example/simple'
global.no-cache-dir='true'
"""


def test_pip_configuration_becomes_uv_options_each_once_in_pips_order() -> None:
    assert _uv_args()(PIP_CONFIG) == [
        "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",  # the first bundle; venv.sh keeps the first it reads
        "--find-links", "/opt/wheels",  # listed twice by pip (variable and file): once
        "SSL_CERT_FILE=/etc/ssl/certs/other.pem",
        "--constraint", "/etc/xdg/pip/constraints.txt",
        "--extra-index-url", "file:///opt/pypi/simple",
        "--extra-index-url", "file:///opt/pypi-more/simple",
        "--index-url", "https://mirror.example/simple",
    ]  # fmt: skip


def test_no_pip_configuration_gives_no_options() -> None:
    assert _uv_args()("") == []
    done = subprocess.run([sys.executable, str(SCRIPTS / "uv_args.py")], input="global.timeout='60'\n", capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == ""
