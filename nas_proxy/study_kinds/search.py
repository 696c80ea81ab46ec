"""``search``: candidates trained on a synthetic set, scored on the validation split (nas_proxy.search)."""

from nas_proxy.search.runner import _work
from nas_proxy.search.study import KIND
from nas_proxy.studies.kinds import StudyKind, register

register(StudyKind(KIND, _work, "candidates trained on a synthetic set, scored on the validation split"))
