"""Report: a correlation's result as files and words (``nasproxy correlate`` runs it, then these).

``command.py``: ``nasproxy correlate``, the run a request asks for and its reports; ``render.py``:
``results.json``/``.csv``, ``report.md``/``.html`` and the note on a search study's dashboard;
``verdict.py``: the report's opening sentences; ``notes.py``: what the numbers cannot say (chance
levels, failed architectures); ``plots.py``: the figures.
"""

from typing import TYPE_CHECKING

from nas_proxy import lazy

if TYPE_CHECKING:
    from nas_proxy.report.command import CorrelateRequest, correlate_command
    from nas_proxy.report.render import attach_to_study, summary_lines, write_reports
    from nas_proxy.report.verdict import verdict

lazy.exports(
    __name__,
    {
        "nas_proxy.report.command": ["CorrelateRequest", "correlate_command"],
        "nas_proxy.report.render": ["attach_to_study", "summary_lines", "write_reports"],
        "nas_proxy.report.verdict": ["verdict"],
    },
)

__all__ = ["CorrelateRequest", "attach_to_study", "correlate_command", "summary_lines", "verdict", "write_reports"]
