"""Ground truth: architectures trained on the real training split, as the trials of Optuna studies.

``trainings.py``: a kind of queued-training study (one trial per architecture and seed, shared by
every worker on any machine, cached in the storage); two kinds are made of it: the ground truth
(``study.py``, scored on the test set, what ``correlate`` measures the proxies against) and a
search's promotion (:mod:`nas_proxy.search.promotion`, scored on the validation split). The
training of one network is :mod:`nas_proxy.trainers.fulldata`'s.
"""
