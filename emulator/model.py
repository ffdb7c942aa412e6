"""Emulated Amazon Rekognition Custom Labels model lifecycle and inference.

moto has no Custom Labels model lifecycle, so this module plays the model:
StartProjectVersion, StopProjectVersion, DescribeProjectVersions and
DetectCustomLabels, speaking Rekognition's JSON 1.1 protocol (X-Amz-Target
``RekognitionService.<Operation>``, errors as ``{"__type": ..., "Message": ...}``)
so unmodified boto3 and aioboto3 clients work against it. It is served on
the same endpoint as moto by :class:`RekognitionMiddleware`.

ARN convention (documented, because a real project ARN can not be derived
from a version ARN: it carries the project's own creation timestamp):
version ``arn:aws:rekognition:R:A:project/NAME/version/VERSION/TS`` belongs to
project ``arn:aws:rekognition:R:A:project/NAME/TS`` (the version's TS reused).
The emulator itself matches projects by partition, region, account and NAME
only, so a project ARN with any timestamp finds the project.

Time is measured with a monotonic clock; state transitions (STARTING ->
RUNNING, STOPPING -> STOPPED) are applied lazily whenever the model is looked
at, at the instant they were due, so the meter is exact without a thread.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from emulator.labels import ImageDecodeError, LabelCache, sniff_format
from runtime.arns import PROJECT_ARN, VERSION_ARN

# Status names exactly as the Rekognition API spells them.
TRAINING_COMPLETED = "TRAINING_COMPLETED"
STARTING = "STARTING"
RUNNING = "RUNNING"
STOPPING = "STOPPING"
STOPPED = "STOPPED"
FAILED = "FAILED"
STATUSES = frozenset(
    {
        "TRAINING_IN_PROGRESS",
        TRAINING_COMPLETED,
        "TRAINING_FAILED",
        STARTING,
        RUNNING,
        FAILED,
        STOPPING,
        STOPPED,
        "DELETING",
        "COPYING_IN_PROGRESS",
        "COPYING_COMPLETED",
        "COPYING_FAILED",
        "DEPRECATED",
        "EXPIRED",
    }
)
STARTABLE = frozenset({TRAINING_COMPLETED, STOPPED, FAILED, "COPYING_COMPLETED"})

MAX_S3_IMAGE_BYTES = 15 * 1024 * 1024  # DetectCustomLabels limit for S3 objects
MAX_BYTES_IMAGE_BYTES = 4 * 1024 * 1024  # and for Image.Bytes
DEFAULT_MIN_CONFIDENCE = 50.0  # stands in for the model's "assumed threshold"
TARGET_PREFIX = "RekognitionService."
OPERATIONS = frozenset(
    {
        "DetectCustomLabels",
        "StartProjectVersion",
        "StopProjectVersion",
        "DescribeProjectVersions",
        "DescribeProjects",
    }
)
# HTTP status per error, as documented in the Rekognition API reference.
HTTP_STATUS = {"InternalServerError": 500, "ThrottlingException": 500}
INJECTABLE_FAULTS = frozenset(
    {"InternalServerError", "ThrottlingException", "ProvisionedThroughputExceededException"}
)

_VERSION_ARN = VERSION_ARN
_PROJECT_ARN = PROJECT_ARN


def _parse_version_arn(version_arn: str) -> re.Match[str]:
    match = _VERSION_ARN.match(version_arn)
    if not match:
        raise ValueError(f"not a Rekognition project version ARN: {version_arn!r}")
    return match


def project_arn_of(version_arn: str) -> str:
    """Project ARN for a version ARN, by this project's convention (module doc)."""
    m = _parse_version_arn(version_arn)
    return (
        f"arn:{m['partition']}:rekognition:{m['region']}:{m['account']}:"
        f"project/{m['project']}/{m['ts']}"
    )


def version_name_of(version_arn: str) -> str:
    """The VersionNames entry DescribeProjectVersions expects for this ARN."""
    return _parse_version_arn(version_arn)["version"]


def _project_key(arn: str) -> tuple[str, str, str, str] | None:
    m = _VERSION_ARN.match(arn) or _PROJECT_ARN.match(arn)
    if not m:
        return None
    return (m["partition"], m["region"], m["account"], m["project"])


class RekognitionError(Exception):
    """An error the JSON protocol returns as ``__type`` + ``Message``."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status if status is not None else HTTP_STATUS.get(code, 400)


Latency = float | Callable[[], float]


def normal_latency(
    mean: float, stdev: float, *, minimum: float = 0.0, seed: int | None = None
) -> Callable[[], float]:
    """A latency distribution for ``configure(latency=...)``: normal, floored at ``minimum``."""
    rng = random.Random(seed)
    return lambda: max(minimum, rng.gauss(mean, stdev))


def uniform_latency(low: float, high: float, *, seed: int | None = None) -> Callable[[], float]:
    """A latency distribution for ``configure(latency=...)``: uniform in [low, high]."""
    if not 0 <= low <= high:
        raise ValueError("need 0 <= low <= high")
    rng = random.Random(seed)
    return lambda: rng.uniform(low, high)


@dataclass(frozen=True)
class ModelConfig:
    """Knobs of the emulated service; defaults are fast enough for tests."""

    start_delay: float = 1.0  # seconds STARTING -> RUNNING
    stop_delay: float = 0.5  # seconds STOPPING -> STOPPED
    tps_per_unit: float = 5.0  # accepted DetectCustomLabels per second per inference unit
    latency: Latency = 0.0  # seconds per admitted DetectCustomLabels, or a callable
    fault_rates: Mapping[str, float] = field(default_factory=dict)  # error code -> probability
    # STARTING ends in FAILED instead of RUNNING: True for every start, a number
    # for that many starts (then they succeed again).
    start_fails: bool | int = False
    seed: int | None = None  # seeds fault injection (None: nondeterministic)


@dataclass
class _Version:
    arn: str
    name: str
    project_key: tuple[str, str, str, str]
    status: str
    created_wall: float
    status_message: str = ""
    min_units: int | None = None
    max_units: int | None = None
    units: int = 0  # inference units while RUNNING
    due: float | None = None  # monotonic time of the pending transition
    running_since: float | None = None
    running_seconds: float = 0.0
    unit_seconds: float = 0.0
    window: deque[float] = field(default_factory=deque)
    admitted: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))


@dataclass
class _Meter:
    detect_calls: int = 0
    detect_succeeded: int = 0
    throttles: int = 0
    errors: int = 0
    faults_injected: int = 0
    starts: int = 0
    stops: int = 0
    describes: int = 0
    by_error: dict[str, int] = field(default_factory=dict)


S3Reader = Callable[[str, str, str | None], tuple[int, Callable[[], bytes]]]
"""(bucket, key, version) -> (size, read); raises KeyError if there is no such object."""


class ModelEmulator:
    """Custom Labels model versions with lifecycle, throughput cap, faults and a meter."""

    def __init__(
        self,
        s3_reader: S3Reader | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._s3_reader = s3_reader
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.RLock()
        self._labels = LabelCache()
        self._versions: dict[str, _Version] = {}
        self._config = ModelConfig()
        self._emptied_projects: set[tuple[str, str, str, str]] = set()
        self._rng = random.Random()
        self._meter = _Meter()

    # -- test / harness API -------------------------------------------------

    def create(
        self,
        arn: str,
        status: str = TRAINING_COMPLETED,
        *,
        inference_units: int = 1,
    ) -> str:
        """Register a model version (a project ARN gets a version named ``v1``).

        Returns the version ARN. ``status=RUNNING`` starts it metered now with
        ``inference_units``.
        """
        if _PROJECT_ARN.match(arn):
            m = _PROJECT_ARN.match(arn)
            assert m is not None
            arn = (
                f"arn:{m['partition']}:rekognition:{m['region']}:{m['account']}:"
                f"project/{m['project']}/version/v1/{m['ts']}"
            )
        m = _parse_version_arn(arn)
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; one of {sorted(STATUSES)}")
        if status in (STARTING, STOPPING):
            raise ValueError("create a version RUNNING or STOPPED and call start/stop instead")
        key = _project_key(arn)
        assert key is not None
        now = self._clock()
        with self._lock:
            version = _Version(
                arn=arn,
                name=m["version"],
                project_key=key,
                status=status,
                created_wall=int(m["ts"]) / 1000 if len(m["ts"]) >= 13 else time.time(),
            )
            if status == RUNNING:
                version.units = version.min_units = inference_units
                version.running_since = now
            self._versions[arn] = version
        return arn

    def delete(self, arn: str) -> None:
        """Forget a model version (as DeleteProjectVersion would): describing its
        project then lists no such version."""
        with self._lock:
            version = self._versions.pop(arn, None)
            if version is None:
                raise KeyError(arn)
            # The project outlives its last version (AWS deletes projects separately).
            self._emptied_projects.add(version.project_key)
            self._close_running(version, self._clock())

    def configure(self, **changes: Any) -> ModelConfig:
        """Change emulator knobs (see :class:`ModelConfig`); returns the new config."""
        known = set(ModelConfig.__dataclass_fields__)
        unknown = set(changes) - known
        if unknown:
            raise TypeError(f"unknown model setting(s): {sorted(unknown)}; known: {sorted(known)}")
        rates = changes.get("fault_rates")
        if rates is not None:
            bad = set(rates) - INJECTABLE_FAULTS
            if bad:
                raise ValueError(
                    f"cannot inject {sorted(bad)}; choose from {sorted(INJECTABLE_FAULTS)}"
                )
            if any(r < 0 for r in rates.values()) or sum(rates.values()) > 1:
                raise ValueError("fault rates must be >= 0 and sum to at most 1")
            changes["fault_rates"] = dict(rates)
        for name in ("start_delay", "stop_delay"):
            if name in changes and changes[name] < 0:
                raise ValueError(f"{name} must be >= 0")
        if "tps_per_unit" in changes and changes["tps_per_unit"] <= 0:
            raise ValueError("tps_per_unit must be > 0")
        with self._lock:
            self._config = replace(self._config, **changes)
            if "seed" in changes:
                self._rng = random.Random(changes["seed"])
            return self._config

    @property
    def config(self) -> ModelConfig:
        return self._config

    def reset(self) -> None:
        """Forget every version, the meter and the configuration."""
        with self._lock:
            self._versions.clear()
            self._emptied_projects.clear()
            self._config = ModelConfig()
            self._rng = random.Random()
            self._meter = _Meter()

    def status(self, version_arn: str) -> str:
        """Current status of a version (raises KeyError if unknown)."""
        with self._lock:
            version = self._versions[version_arn]
            self._advance(version, self._clock())
            return version.status

    def admissions(self, version_arn: str) -> list[float]:
        """Monotonic times at which DetectCustomLabels calls were admitted under
        the throughput cap (the last 100,000), for tests and benchmarks."""
        with self._lock:
            return list(self._versions[version_arn].admitted)

    def meter(self) -> dict[str, Any]:
        """Snapshot of what a bill and a dashboard would show, for tests and tools."""
        now = self._clock()
        with self._lock:
            running = unit_seconds = 0.0
            for version in self._versions.values():
                self._advance(version, now)
                running += version.running_seconds
                unit_seconds += version.unit_seconds
                if version.running_since is not None:
                    running += now - version.running_since
                    unit_seconds += (now - version.running_since) * version.units
            m = self._meter
            return {
                "running_seconds": running,
                "inference_unit_seconds": unit_seconds,
                "detect_calls": m.detect_calls,
                "detect_succeeded": m.detect_succeeded,
                "throttles": m.throttles,
                "errors": m.errors,
                "faults_injected": m.faults_injected,
                "starts": m.starts,
                "stops": m.stops,
                "describes": m.describes,
                "by_error": dict(m.by_error),
            }

    # -- the API operations -------------------------------------------------

    def handle(self, operation: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Run one API operation; raises :class:`RekognitionError` as AWS would."""
        if operation == "DetectCustomLabels":
            return self.detect_custom_labels(body)
        if operation == "StartProjectVersion":
            return self.start_project_version(body)
        if operation == "StopProjectVersion":
            return self.stop_project_version(body)
        if operation == "DescribeProjectVersions":
            return self.describe_project_versions(body)
        if operation == "DescribeProjects":
            return self.describe_projects(body)
        raise RekognitionError("UnknownOperationException", f"unknown operation {operation}")

    def start_project_version(self, body: Mapping[str, Any]) -> dict[str, Any]:
        arn = _required_str(body, "ProjectVersionArn")
        min_units = _units(body, "MinInferenceUnits", required=True)
        max_units = _units(body, "MaxInferenceUnits", required=False)
        if max_units is not None and min_units is not None and max_units < min_units:
            raise RekognitionError(
                "InvalidParameterException", "MaxInferenceUnits must be >= MinInferenceUnits"
            )
        now = self._clock()
        with self._lock:
            version = self._get(arn, now)
            if version.status not in STARTABLE:
                raise RekognitionError(
                    "ResourceInUseException",
                    f"The model version is {version.status} and can not be started.",
                )
            version.status = STARTING
            version.status_message = "The model is being started."
            version.min_units = min_units
            version.max_units = max_units
            version.due = now + self._config.start_delay
            self._meter.starts += 1
            self._advance(version, now)
            return {"Status": version.status}

    def stop_project_version(self, body: Mapping[str, Any]) -> dict[str, Any]:
        arn = _required_str(body, "ProjectVersionArn")
        now = self._clock()
        with self._lock:
            version = self._get(arn, now)
            if version.status not in (RUNNING, STARTING):
                raise RekognitionError(
                    "ResourceInUseException",
                    f"The model version is {version.status} and can not be stopped.",
                )
            self._close_running(version, now)
            version.status = STOPPING
            version.status_message = "The model is being stopped."
            version.due = now + self._config.stop_delay
            self._meter.stops += 1
            self._advance(version, now)
            return {"Status": version.status}

    def describe_project_versions(self, body: Mapping[str, Any]) -> dict[str, Any]:
        project_arn = _required_str(body, "ProjectArn")
        key = _project_key(project_arn)
        if key is None or not _PROJECT_ARN.match(project_arn):
            raise RekognitionError("InvalidParameterException", "ProjectArn is not a project ARN.")
        names = body.get("VersionNames")
        if names is not None and (
            not isinstance(names, list) or not all(isinstance(n, str) for n in names)
        ):
            raise RekognitionError("InvalidParameterException", "VersionNames must be a list.")
        if names is not None and len(names) > 10:
            raise RekognitionError("InvalidParameterException", "At most 10 VersionNames.")
        max_results = body.get("MaxResults", 100)
        if not isinstance(max_results, int) or not 1 <= max_results <= 100:
            raise RekognitionError("InvalidParameterException", "MaxResults must be 1..100.")
        token = body.get("NextToken")
        try:
            offset = int(base64.b64decode(token).decode()) if token else 0
        except (ValueError, binascii.Error):
            raise RekognitionError(
                "InvalidPaginationTokenException", "Invalid pagination token."
            ) from None
        now = self._clock()
        with self._lock:
            self._meter.describes += 1
            versions = [v for v in self._versions.values() if v.project_key == key]
            if not versions and key not in self._emptied_projects:
                raise RekognitionError(
                    "ResourceNotFoundException", f"Project {project_arn} not found."
                )
            if names is not None:
                versions = [v for v in versions if v.name in names]
            versions.sort(key=lambda v: (-v.created_wall, v.name))
            page = versions[offset : offset + max_results]
            descriptions = []
            for version in page:
                self._advance(version, now)
                descriptions.append(self._describe(version))
        result: dict[str, Any] = {"ProjectVersionDescriptions": descriptions}
        if offset + max_results < len(versions):
            result["NextToken"] = base64.b64encode(str(offset + max_results).encode()).decode()
        return result

    def describe_projects(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """The projects of the registered versions (how the infra finds a project ARN)."""
        names = body.get("ProjectNames")
        if names is not None and (
            not isinstance(names, list) or not all(isinstance(n, str) for n in names)
        ):
            raise RekognitionError("InvalidParameterException", "ProjectNames must be a list.")
        with self._lock:
            projects: dict[tuple[str, str, str, str], dict[str, Any]] = {}
            for version in sorted(self._versions.values(), key=lambda v: v.created_wall):
                key = version.project_key
                if key in projects or (names is not None and key[3] not in names):
                    continue
                projects[key] = {
                    "ProjectArn": project_arn_of(version.arn),
                    "CreationTimestamp": version.created_wall,
                    "Status": "CREATED",
                    "Feature": "CUSTOM_LABELS",
                }
        return {"ProjectDescriptions": list(projects.values())}

    def detect_custom_labels(self, body: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._meter.detect_calls += 1
        try:
            result = self._detect(body)
        except RekognitionError as err:
            with self._lock:
                if err.code in ("ProvisionedThroughputExceededException", "ThrottlingException"):
                    self._meter.throttles += 1
                else:
                    self._meter.errors += 1
                self._meter.by_error[err.code] = self._meter.by_error.get(err.code, 0) + 1
            raise
        with self._lock:
            self._meter.detect_succeeded += 1
        return result

    # -- internals ----------------------------------------------------------

    def _detect(self, body: Mapping[str, Any]) -> dict[str, Any]:
        arn = _required_str(body, "ProjectVersionArn")
        image = body.get("Image")
        if not isinstance(image, Mapping) or ("Bytes" in image) == ("S3Object" in image):
            raise RekognitionError(
                "InvalidParameterException", "Image must have exactly one of Bytes or S3Object."
            )
        min_confidence = body.get("MinConfidence", DEFAULT_MIN_CONFIDENCE)
        if not isinstance(min_confidence, int | float) or not 0 <= min_confidence <= 100:
            raise RekognitionError("InvalidParameterException", "MinConfidence must be 0..100.")
        max_results = body.get("MaxResults")
        if max_results is not None and (not isinstance(max_results, int) or max_results < 0):
            raise RekognitionError("InvalidParameterException", "MaxResults must be >= 0.")

        now = self._clock()
        with self._lock:
            version = self._get(arn, now)
            if version.status != RUNNING:
                raise RekognitionError(
                    "ResourceNotReadyException",
                    f"ProjectVersion {arn} is not ready (status {version.status}).",
                )
            fault = self._draw_fault()
            if fault is not None:
                self._meter.faults_injected += 1
                raise RekognitionError(fault, f"Injected fault: {fault}.")
            capacity = version.units * self._config.tps_per_unit
            window = version.window
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= capacity:
                raise RekognitionError(
                    "ProvisionedThroughputExceededException",
                    "The number of requests exceeded your throughput limit.",
                )
            window.append(now)
            version.admitted.append(now)
            latency = self._config.latency

        delay = latency() if callable(latency) else latency
        if delay and delay > 0:
            self._sleep(delay)
        data = self._image_bytes(image)
        try:
            labels = self._labels.labels(data)
        except ImageDecodeError as exc:
            raise RekognitionError("InvalidImageFormatException", str(exc)) from None
        labels = [label for label in labels if label["Confidence"] >= min_confidence]
        if max_results:
            labels = labels[:max_results]
        return {"CustomLabels": labels}

    def _image_bytes(self, image: Mapping[str, Any]) -> bytes:
        if "Bytes" in image:
            raw = image["Bytes"]
            if isinstance(raw, str):
                try:
                    data = base64.b64decode(raw, validate=True)
                except (ValueError, binascii.Error):
                    raise RekognitionError(
                        "InvalidParameterException", "Image.Bytes is not valid base64."
                    ) from None
            elif isinstance(raw, bytes | bytearray):
                data = bytes(raw)
            else:
                raise RekognitionError("InvalidParameterException", "Image.Bytes must be a blob.")
            if len(data) > MAX_BYTES_IMAGE_BYTES:
                raise RekognitionError("ImageTooLargeException", "Image.Bytes is larger than 4 MB.")
        else:
            s3 = image["S3Object"]
            bucket = s3.get("Bucket") if isinstance(s3, Mapping) else None
            key = s3.get("Name") if isinstance(s3, Mapping) else None
            if not bucket or not key:
                raise RekognitionError(
                    "InvalidParameterException", "S3Object needs Bucket and Name."
                )
            if self._s3_reader is None:
                raise RekognitionError("InvalidS3ObjectException", "No S3 is attached.")
            try:
                size, read = self._s3_reader(bucket, key, s3.get("Version"))
            except KeyError:
                raise RekognitionError(
                    "InvalidS3ObjectException", "Unable to get object metadata from S3."
                ) from None
            if size > MAX_S3_IMAGE_BYTES:
                raise RekognitionError(
                    "ImageTooLargeException", "Image size is too large: the limit is 15 MB."
                )
            data = read()
        if sniff_format(data) is None:
            raise RekognitionError(
                "InvalidImageFormatException", "Request has unsupported image format."
            )
        return data

    def _draw_fault(self) -> str | None:
        rates = self._config.fault_rates
        if not rates:
            return None
        draw = self._rng.random()
        for code in sorted(rates):
            draw -= rates[code]
            if draw < 0:
                return code
        return None

    def _get(self, arn: str, now: float) -> _Version:
        version = self._versions.get(arn)
        if version is None:
            if not _VERSION_ARN.match(arn):
                raise RekognitionError(
                    "InvalidParameterException", f"{arn!r} is not a project version ARN."
                )
            raise RekognitionError("ResourceNotFoundException", f"ProjectVersion {arn} not found.")
        self._advance(version, now)
        return version

    def _advance(self, version: _Version, now: float) -> None:
        if version.due is None or now < version.due:
            return
        due, version.due = version.due, None
        if version.status == STARTING:
            fails = self._config.start_fails
            if fails:
                if not isinstance(fails, bool):
                    self._config = replace(self._config, start_fails=fails - 1)
                version.status = FAILED
                version.status_message = "The model failed to start (injected)."
            else:
                version.status = RUNNING
                version.status_message = "The model is running."
                version.units = version.min_units or 1
                version.running_since = due
                version.window.clear()
        elif version.status == STOPPING:
            version.status = STOPPED
            version.status_message = "The model is stopped."

    def _close_running(self, version: _Version, now: float) -> None:
        if version.running_since is not None:
            elapsed = max(0.0, now - version.running_since)
            version.running_seconds += elapsed
            version.unit_seconds += elapsed * version.units
            version.running_since = None
        version.units = 0

    def _describe(self, version: _Version) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ProjectVersionArn": version.arn,
            "CreationTimestamp": version.created_wall,
            "Status": version.status,
            "StatusMessage": version.status_message or _default_message(version.status),
            "BillableTrainingTimeInSeconds": 3600,
            "TrainingEndTimestamp": version.created_wall + 3600,
        }
        if version.min_units is not None:
            out["MinInferenceUnits"] = version.min_units
        if version.max_units is not None:
            out["MaxInferenceUnits"] = version.max_units
        return out


def _default_message(status: str) -> str:
    return {
        TRAINING_COMPLETED: "The model is ready to run.",
        RUNNING: "The model is running.",
        STOPPED: "The model is stopped.",
    }.get(status, status)


def _required_str(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise RekognitionError("InvalidParameterException", f"{name} is required.")
    return value


def _units(body: Mapping[str, Any], name: str, *, required: bool) -> int | None:
    value = body.get(name)
    if value is None:
        if required:
            raise RekognitionError("InvalidParameterException", f"{name} is required.")
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise RekognitionError("InvalidParameterException", f"{name} must be an integer >= 1.")
    return value


class RekognitionMiddleware:
    """WSGI app in front of moto's: takes the Custom Labels operations, passes
    everything else (including moto's own Rekognition operations) through."""

    def __init__(self, app: Callable[..., Iterable[bytes]], model: ModelEmulator) -> None:
        self.app = app
        self.model = model

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith(TARGET_PREFIX) or target[len(TARGET_PREFIX) :] not in OPERATIONS:
            return self.app(environ, start_response)
        operation = target[len(TARGET_PREFIX) :]
        request_id = str(uuid.uuid4())
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(length) if length else b"{}"
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                raise RekognitionError("SerializationException", "Malformed JSON.") from None
            if not isinstance(body, dict):
                raise RekognitionError("SerializationException", "Body must be a JSON object.")
            status, payload = 200, self.model.handle(operation, body)
        except RekognitionError as err:
            status, payload = err.status, {"__type": err.code, "Message": err.message}
        data = json.dumps(payload).encode()
        headers = [
            ("Content-Type", "application/x-amz-json-1.1"),
            ("Content-Length", str(len(data))),
            ("x-amzn-RequestId", request_id),
        ]
        if status != 200:
            headers.append(("x-amzn-ErrorType", payload["__type"]))
        start_response(f"{status} {_REASONS.get(status, 'Error')}", headers)
        return [data]


_REASONS = {200: "OK", 400: "Bad Request", 500: "Internal Server Error"}
