"""S3 fault injection for the local AWS: 503 SlowDown and 500 InternalError on object calls.

moto's S3 never fails a well-formed request, so the paths that S3's transient
errors take (botocore's retries, a record reported for retry, the workflow's
own S3 calls) would never be exercised. :class:`S3FaultMiddleware` sits in
front of moto's WSGI app and answers a drawn share of the object operations
with the error S3 itself sends, before moto sees the request (so a faulted
PUT/COPY/DELETE changes nothing, as on S3 where a 5xx may or may not have
taken effect and callers must retry idempotently anyway):

=========  ==============================================================
operation  requests
=========  ==============================================================
GET        GetObject (``GET /bucket/key``)
HEAD       HeadObject (``HEAD /bucket/key``)
PUT        PutObject, UploadPart (``PUT /bucket/key`` without a copy source)
COPY       CopyObject, UploadPartCopy (``PUT`` with ``x-amz-copy-source``)
DELETE     DeleteObject (``DELETE /bucket/key``), DeleteObjects (``POST /bucket?delete``)
=========  ==============================================================

Bucket-level calls (create, list, notification and policy set-up), object
sub-resources (``?tagging``, ``?acl``, ...) and multipart create/complete are
never faulted. Configure like the model emulator::

    aws.s3_faults.configure(fault_rates={"GET": 0.05, "PUT": {"InternalError": 0.01}}, seed=7)

A rate given as a number is SlowDown (503); a mapping gives each error its
own rate. ``"*"`` applies to every operation not named. The draws come from
one seeded ``random.Random`` (deterministic for a given request order), and
:meth:`S3Faults.meter` counts requests seen and faults injected per operation.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qs, unquote

OPERATIONS = ("GET", "HEAD", "PUT", "COPY", "DELETE")
ALL = "*"

# The errors S3 answers under load or on an internal failure (S3 API reference,
# "List of error codes"): status, code, message.
S3_ERRORS: dict[str, tuple[int, str]] = {
    "SlowDown": (503, "Please reduce your request rate."),
    "InternalError": (500, "We encountered an internal error. Please try again."),
}
DEFAULT_ERROR = "SlowDown"

# Object sub-resources that are not the operations above.
_SUBRESOURCES = frozenset(
    {
        "acl",
        "attributes",
        "legal-hold",
        "restore",
        "retention",
        "select",
        "tagging",
        "torrent",
        "uploads",
    }
)
_REASONS = {500: "Internal Server Error", 503: "Slow Down"}


@dataclass(frozen=True)
class S3FaultConfig:
    """Knobs of the injection: ``fault_rates`` operation -> error code -> probability."""

    fault_rates: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    buckets: frozenset[str] | None = None  # None: every bucket
    seed: int | None = None


@dataclass
class _Meter:
    requests: dict[str, int] = field(default_factory=dict)
    injected: dict[str, dict[str, int]] = field(default_factory=dict)


def normalise_rates(
    rates: Mapping[str, float | Mapping[str, float]],
) -> dict[str, dict[str, float]]:
    """Validate ``fault_rates`` and expand it to operation -> error -> probability."""
    expanded: dict[str, dict[str, float]] = {}
    for operation, value in rates.items():
        op = operation.upper()
        if op not in (*OPERATIONS, ALL):
            raise ValueError(
                f"unknown S3 operation {operation!r}; choose from {', '.join(OPERATIONS)} or '*'"
            )
        per_error = {DEFAULT_ERROR: value} if isinstance(value, int | float) else dict(value)
        unknown = set(per_error) - set(S3_ERRORS)
        if unknown:
            raise ValueError(f"cannot inject {sorted(unknown)}; choose from {sorted(S3_ERRORS)}")
        if any(not 0 <= rate <= 1 for rate in per_error.values()) or sum(per_error.values()) > 1:
            raise ValueError(f"{op}: fault rates must be >= 0 and sum to at most 1")
        expanded[op] = {code: float(rate) for code, rate in per_error.items() if rate > 0}
    default = expanded.pop(ALL, None)
    if default is not None:
        for op in OPERATIONS:
            expanded.setdefault(op, dict(default))
    return {op: errors for op, errors in expanded.items() if errors}


class S3Faults:
    """Which S3 requests fail, drawn from one seeded generator, and a meter."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._config = S3FaultConfig()
        self._rng = random.Random()
        self._meter = _Meter()

    def configure(
        self,
        *,
        fault_rates: Mapping[str, float | Mapping[str, float]] | None = None,
        buckets: Collection[str] | None = None,
        seed: int | None = None,
    ) -> S3FaultConfig:
        """Set the rates (replacing the previous ones), optionally only for ``buckets``.

        ``seed`` re-seeds the draws (and is kept for :meth:`reset`); without it
        the current generator continues.
        """
        changes: dict[str, Any] = {}
        if fault_rates is not None:
            changes["fault_rates"] = normalise_rates(fault_rates)
        if buckets is not None:
            changes["buckets"] = frozenset(buckets)
        with self._lock:
            if seed is not None:
                changes["seed"] = seed
                self._rng = random.Random(seed)
            self._config = replace(self._config, **changes)
            return self._config

    @property
    def config(self) -> S3FaultConfig:
        return self._config

    def reset(self) -> None:
        """No faults, an unseeded generator, an empty meter."""
        with self._lock:
            self._config = S3FaultConfig()
            self._rng = random.Random()
            self._meter = _Meter()

    def meter(self) -> dict[str, Any]:
        """Requests seen and faults injected per operation (``injected_total`` summed)."""
        with self._lock:
            injected = {op: dict(codes) for op, codes in self._meter.injected.items()}
            return {
                "requests": dict(self._meter.requests),
                "injected": injected,
                "injected_total": sum(sum(codes.values()) for codes in injected.values()),
            }

    def draw(self, operation: str, bucket: str) -> str | None:
        """The error code to answer this request with, or None to let it through."""
        with self._lock:
            config = self._config
            self._meter.requests[operation] = self._meter.requests.get(operation, 0) + 1
            rates = config.fault_rates.get(operation)
            if not rates or (config.buckets is not None and bucket not in config.buckets):
                return None
            draw = self._rng.random()
            for code in sorted(rates):
                draw -= rates[code]
                if draw < 0:
                    counts = self._meter.injected.setdefault(operation, {})
                    counts[code] = counts.get(code, 0) + 1
                    return code
            return None


def classify(environ: Mapping[str, Any]) -> tuple[str, str] | None:
    """(operation, bucket) of an S3 object request, None for anything else."""
    if not _is_s3(environ):
        return None
    method = environ.get("REQUEST_METHOD", "")
    bucket, key = _bucket_and_key(environ)
    if not bucket:
        return None
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    if method == "POST":
        return ("DELETE", bucket) if not key and "delete" in query else None
    if not key or _SUBRESOURCES & set(query):
        return None
    if method in ("GET", "HEAD", "DELETE"):
        return method, bucket
    if method == "PUT":
        return ("COPY" if environ.get("HTTP_X_AMZ_COPY_SOURCE") else "PUT"), bucket
    return None


def _is_s3(environ: Mapping[str, Any]) -> bool:
    """Signed for S3 (header or presigned query), as moto's dispatcher decides."""
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    if "/s3/aws4_request" in authorization:
        return True
    query = environ.get("QUERY_STRING", "")
    return "%2Fs3%2Faws4_request" in query or "/s3/aws4_request" in query


def _bucket_and_key(environ: Mapping[str, Any]) -> tuple[str, str]:
    path = unquote(environ.get("PATH_INFO", "") or "/")
    host = (environ.get("HTTP_HOST") or "").rsplit(":", 1)[0].lower()
    labels = host.split(".")
    path_style = (
        not host
        or host == "localhost"
        or all(label.isdigit() for label in labels)  # an IPv4 address
        or host.startswith("[")  # an IPv6 address
        or labels[0] in ("s3", "127")
        or labels[0].startswith("s3-")
    )
    if path_style:
        bucket, _, key = path.lstrip("/").partition("/")
        return bucket, key
    return labels[0], path.lstrip("/")


def error_response(
    code: str, resource: str, *, head: bool
) -> tuple[str, list[tuple[str, str]], bytes]:
    """Status line, headers and body of S3's error answer (no body for HEAD)."""
    status, message = S3_ERRORS[code]
    request_id = uuid.uuid4().hex[:16].upper()
    body = (
        b""
        if head
        else (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message>"
            f"<Resource>{_xml_escape(resource)}</Resource>"
            f"<RequestId>{request_id}</RequestId>"
            f"<HostId>{uuid.uuid4().hex}</HostId></Error>"
        ).encode()
    )
    headers = [
        ("Content-Type", "application/xml"),
        ("Content-Length", str(len(body))),
        ("x-amz-request-id", request_id),
        ("x-amz-id-2", uuid.uuid4().hex),
    ]
    return f"{status} {_REASONS[status]}", headers, body


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class S3FaultMiddleware:
    """WSGI app in front of another: answers drawn S3 object requests with an error."""

    def __init__(self, app: Callable[..., Iterable[bytes]], faults: S3Faults) -> None:
        self.app = app
        self.faults = faults

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        target = classify(environ)
        if target is None:
            return self.app(environ, start_response)
        operation, bucket = target
        code = self.faults.draw(operation, bucket)
        if code is None:
            return self.app(environ, start_response)
        # Read the request body first: the server has already told a client that sent
        # "Expect: 100-continue" to go on, so the body is coming and must be consumed.
        _drain_input(environ)
        status, headers, body = error_response(
            code, environ.get("PATH_INFO", "/"), head=environ.get("REQUEST_METHOD") == "HEAD"
        )
        start_response(status, headers)
        return [body]


def _drain_input(environ: Mapping[str, Any]) -> None:
    stream = environ.get("wsgi.input")
    if stream is None:
        return
    while stream.read(1 << 16):
        pass
