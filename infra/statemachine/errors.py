"""Error names and model statuses the workflow reacts to.

AWS SDK integration errors are "<ServiceName>.<ExceptionName>", PascalCase,
always with the "Exception" suffix (so InternalServerError becomes
InternalServerErrorException). Unmodelled errors carry the SDK's base class name.

AWS documents the form (its example: ``AcmPca.ResourceNotFoundException``, the
AWS SDK for Java's service name) but not the casing of every service, and the
interpreters differ: LocalStack names the service after botocore's service id
without spaces (``SQS``, ``SNS``), the SDK's spelling is ``Sqs``/``Sns``, and
the emulator's shims give moto the SDK's. So every Retry/Catch entry names an
error in each spelling in use (:func:`sdk_errors`); the portability check
(portability.py) refuses a service prefix spelt one way only.
"""

from __future__ import annotations

# Each service's error-name prefixes in use: the AWS SDK's PascalCase name first,
# then botocore's service id (LocalStack) where it differs. The unmodelled base
# error of a service is "<prefix>.<prefix>Exception" in each spelling.
SERVICE_ERROR_PREFIXES: dict[str, tuple[str, ...]] = {
    "rekognition": ("Rekognition",),
    "lambda": ("Lambda",),
    "sqs": ("Sqs", "SQS"),
    "s3": ("S3",),
    "sfn": ("Sfn",),  # LocalStack binds it explicitly (not botocore's "SFN")
    "sns": ("Sns", "SNS"),
    "eventbridge": ("EventBridge",),
}
BASE_ERROR = "{prefix}Exception"  # the service's unmodelled error, e.g. SqsException


def sdk_errors(service: str, *names: str) -> tuple[str, ...]:
    """``sdk_errors("sqs", "RequestThrottledException", BASE_ERROR)``: each error
    name under every spelling of the service's prefix."""
    return tuple(
        f"{prefix}.{name.format(prefix=prefix)}"
        for name in names
        for prefix in SERVICE_ERROR_PREFIXES[service]
    )


# Error names raised by the workflow itself (the Fail states' Error field).
ERROR_MODEL_UNUSABLE = "ModelUnusable"
ERROR_MODEL_NOT_FOUND = "ModelVersionNotFound"
ERROR_START_FAILED = "ModelStartFailed"
ERROR_START_DEADLINE = "ModelStartTimeout"
ERROR_MODEL_STOPPED = "ModelStoppedExternally"
ERROR_CLEANUP = "CleanupFailed"
ERROR_SUMMARY = "RunSummaryNotWritten"
# A failed run ends with this error (never a caught States.* name, which a Fail
# state may not raise); the run's own error and cause are in the Cause.
ERROR_RUN_FAILED = "RunFailed"

REKOGNITION_TRANSIENT = sdk_errors(
    "rekognition",
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "InternalServerErrorException",
)
REKOGNITION_IN_USE = sdk_errors("rekognition", "ResourceInUseException")
REKOGNITION_LIMIT = sdk_errors("rekognition", "LimitExceededException")
LAMBDA_TRANSIENT = sdk_errors(
    "lambda",
    "ResourceConflictException",  # mapping is still Enabling/Disabling/Updating
    "ResourceInUseException",
    "TooManyRequestsException",
    "ServiceException",
)
SQS_TRANSIENT = sdk_errors("sqs", "RequestThrottledException", BASE_ERROR)
SFN_TRANSIENT = sdk_errors("sfn", BASE_ERROR)
S3_TRANSIENT = sdk_errors("s3", BASE_ERROR)
SNS_TRANSIENT = sdk_errors("sns", "ThrottledException", "InternalErrorException", BASE_ERROR)
EVENTS_TRANSIENT = sdk_errors("eventbridge", "InternalException", "ThrottlingException", BASE_ERROR)

# DescribeProjectVersions statuses, grouped by what a run does with them. Any other
# status (TRAINING_FAILED, DEPRECATED, EXPIRED, COPYING_*, DELETING, statuses AWS
# adds later) is unusable: the run fails with the status and its StatusMessage.
MODEL_RUNNING = "RUNNING"
MODEL_STARTABLE = ("STOPPED", "TRAINING_COMPLETED", "COPYING_COMPLETED")
# A start that ended FAILED is not a training failure and may be transient: it is
# started again, at most WorkflowParams.max_start_attempts times per run.
MODEL_START_FAILED = "FAILED"
MODEL_STARTING = "STARTING"
MODEL_TRANSITIONAL = (MODEL_STARTING, "STOPPING")
# The statuses a run knows what to do with (the peek looks only for these).
MODEL_STATUSES_SEEN = (MODEL_RUNNING, *MODEL_TRANSITIONAL, *MODEL_STARTABLE, MODEL_START_FAILED)
