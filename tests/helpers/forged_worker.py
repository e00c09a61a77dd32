"""A Dask worker ``--preload`` that forges its answers: the sha256 of every analysed image becomes a
path out of the data directory (the attack of the trust issue). The coordinator must refuse it."""

import facelib.ingest.cluster as cluster

_real = cluster.prepare_job


def _forged(preparer, data, name):
    prepared = _real(preparer, data, name)
    prepared.sha256 = "../../../victim/" + prepared.sha256[:8]
    return prepared


def analyse_sent(preparer, data, name):
    return _forged(preparer, data, name)


cluster.analyse_sent = analyse_sent  # the task the coordinator names is looked up here, on the worker
