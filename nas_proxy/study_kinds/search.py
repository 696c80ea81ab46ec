"""``search``: candidates scored by the study's proxy (a synthetic set, early stopping, a training-free score; nas_proxy.search)."""

from nas_proxy.search.runner import _work
from nas_proxy.search.study import KIND
from nas_proxy.studies.kinds import StudyKind, register

register(StudyKind(KIND, _work, "candidates scored by the study's proxy (a synthetic set, early stopping, a training-free score)"))
