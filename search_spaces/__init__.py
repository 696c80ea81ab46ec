"""The search spaces shipped with nasproxy, one definition file each (read by ``nas_proxy.spaces``).

Each ``*.toml`` file here is registered under its stem; the format is described in
``nas_proxy/spaces/files.py``. This is a package only so that importlib.resources finds the files
in an installed wheel.
"""
