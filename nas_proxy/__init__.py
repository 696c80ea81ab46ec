"""nasproxy: neural-architecture search on distilled data.

Pipeline: data -> distill (DataDAM) -> synthetic set -> search (Optuna) -> correlate -> report.
"""

__version__ = "0.1.0"
