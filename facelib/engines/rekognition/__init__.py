"""AWS Rekognition: the engine (:mod:`.engine`), its diskcache memo of paid reads (:mod:`.cache`)
and the cost ledger (:mod:`.ledger`, :mod:`.store`). Nothing is imported here, so reading the
ledger does not load boto3."""
