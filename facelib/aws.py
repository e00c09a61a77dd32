"""The one place that builds AWS clients: profile and region from :class:`Settings`, retries from
botocore's own configuration (adaptive mode), for Rekognition and S3 alike."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError

from .errors import EngineAuthError
from .settings import Settings

RETRY_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 8}, connect_timeout=10, read_timeout=60)


def client(service: str, settings: Settings, endpoint_url: str | None = None) -> Any:
    """A boto3 client from the standard AWS chain (``settings.aws_profile``/``aws_region`` first)."""
    try:
        session = boto3.Session(profile_name=settings.aws_profile, region_name=settings.aws_region)
        return session.client(service, config=RETRY_CONFIG, endpoint_url=endpoint_url)
    except BotoCoreError as exc:
        raise EngineAuthError(f"cannot set up AWS for {service}: {exc}") from exc
