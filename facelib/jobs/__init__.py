"""Long work as jobs: the jobs table, one writer per collection (leases) and the runner.

The modules are imported one by one (``facelib.jobs.lease``...): the package itself imports nothing,
so the indexer can take a lease without importing the runner.
"""
