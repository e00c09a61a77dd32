"""Faces in stored video: frames sampled with PyAV, faces followed across them, one searchable
face per appearance (with when it was on screen). See :mod:`.prepare`."""
