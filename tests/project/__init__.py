"""The repository itself: docs' links, benchmarks' imports, registries, configs, the GPU rehearsals."""
