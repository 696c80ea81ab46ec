"""Proxies: what one makes for itself (the random subset) and how it reports what it could not use."""
