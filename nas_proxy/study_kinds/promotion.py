"""``promotion``: a search's best candidates trained on real data, scored on the validation split (nas_proxy.search.promotion)."""

from nas_proxy.search.promotion import PROMOTION

PROMOTION.register("a search's best candidates trained on the real training split, scored on the validation split")
