"""The one place that builds AWS clients: profile and region from :class:`Settings`, retries from
botocore's own configuration.

Two kinds of client, both in botocore's *standard* retry mode (AWS advises against adaptive mode
when one client serves many users):

- **interactive** (a page's search, a delete): 3 attempts, short timeouts, and an overall
  deadline (``Settings.aws_deadline`` seconds): no retry starts once it has passed, so "busy"
  shows within about that long instead of after minutes of back-off;
- **batch** (indexing): its own client, more attempts, and a connection pool as large as the
  most calls a batch may keep in flight (:func:`ceiling`). Throttling is *not* retried by botocore
  on this client: the engine's pacer (:mod:`facelib.engines.rekognition.pace`) sees every throttled
  call, lowers the calls in flight and sends the call again, as often as needed.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError

from .errors import EngineAuthError
from .settings import Settings

Purpose = Literal["interactive", "batch"]
#: Interactive calls: few attempts, short timeouts (seconds).
INTERACTIVE_RETRIES = {"mode": "standard", "total_max_attempts": 3}
#: Batch calls: more patience for throttling, one pool connection per concurrent call.
BATCH_RETRIES = {"mode": "standard", "total_max_attempts": 6}
_STARTED = "facesearch_started"
#: The most calls a batch keeps in flight, by default, as a multiple of ``Settings.aws_concurrency``
#: (the number it starts with): 16 -> 64.
CEILING_FACTOR = 4
#: Error codes botocore leaves to the engine's pacer on a batch client.
THROTTLE_CODES = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException"})


def ceiling(settings: Settings) -> int:
    """The most calls a Rekognition batch keeps in flight: ``Settings.aws_max_concurrency``
    (``FACESEARCH_AWS_MAX_CONCURRENCY``) when the settings have it, else
    :data:`CEILING_FACTOR` x ``Settings.aws_concurrency`` (64 by default); never under the start."""
    configured = settings.aws_max_concurrency
    start = max(1, int(settings.aws_concurrency))
    return max(start, int(configured) if configured else CEILING_FACTOR * start)


def config(purpose: Purpose, settings: Settings) -> Config:
    """botocore's Config for that kind of client."""
    if purpose == "batch":
        pool = max(10, ceiling(settings))
        return Config(retries=BATCH_RETRIES, connect_timeout=10, read_timeout=60, max_pool_connections=pool)
    return Config(retries=INTERACTIVE_RETRIES, connect_timeout=5, read_timeout=20, max_pool_connections=10)


def add_deadline(client: Any, seconds: float) -> Any:
    """Stop retrying a call once ``seconds`` have passed since it started (the last error is raised).

    botocore asks every ``needs-retry`` handler and takes the first answer that is not None; this
    one runs first and answers False (no retry) past the deadline, else None (botocore decides).
    """
    def started(context: dict[str, Any], **_: Any) -> None:
        context[_STARTED] = time.monotonic()

    def deadline(request_dict: dict[str, Any], **_: Any) -> bool | None:
        start = request_dict.get("context", {}).get(_STARTED)
        if start is not None and time.monotonic() - start >= seconds:
            return False
        return None

    prefix = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register(f"before-call.{prefix}", started)
    client.meta.events.register_first(f"needs-retry.{prefix}", deadline)
    return client


def leave_throttling_to_caller(client: Any) -> Any:
    """botocore does not retry throttled calls of this client: they reach the caller at once
    (the batch's pacer backs off and sends them again). Other retries stay botocore's."""
    def throttled(response: Any = None, **_: Any) -> bool | None:
        if isinstance(response, tuple) and len(response) == 2 and isinstance(response[1], dict):
            if response[1].get("Error", {}).get("Code") in THROTTLE_CODES:
                return False
        return None

    prefix = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register_first(f"needs-retry.{prefix}", throttled)
    return client


def client(service: str, settings: Settings, purpose: Purpose = "interactive",
           endpoint_url: str | None = None) -> Any:
    """A boto3 client from the standard AWS chain (``settings.aws_profile``/``aws_region`` first)."""
    try:
        session = boto3.Session(profile_name=settings.aws_profile, region_name=settings.aws_region)
        made = session.client(service, config=config(purpose, settings),
                              endpoint_url=endpoint_url or (settings.aws_endpoint_url if service != "s3" else None))
    except BotoCoreError as exc:
        raise EngineAuthError(f"cannot set up AWS for {service}: {exc}") from exc
    if purpose == "interactive":
        return add_deadline(made, settings.aws_deadline)
    return leave_throttling_to_caller(made)
