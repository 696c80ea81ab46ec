"""The package version, in a leaf module: ``utils`` records it without importing the package."""

__version__ = "0.1.0"  # equal to [project] version in pyproject.toml
