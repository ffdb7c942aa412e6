"""Error names and model statuses the workflow reacts to.

AWS SDK integration errors are "<ServiceName>.<ExceptionName>", PascalCase,
always with the "Exception" suffix (so InternalServerError becomes
InternalServerErrorException). Unmodelled errors carry the SDK's base class name.
"""

from __future__ import annotations

# Error names raised by the workflow itself (the Fail states' Error field).
ERROR_MODEL_UNUSABLE = "ModelUnusable"
ERROR_MODEL_NOT_FOUND = "ModelVersionNotFound"
ERROR_START_FAILED = "ModelStartFailed"
ERROR_START_DEADLINE = "ModelStartTimeout"
ERROR_MODEL_STOPPED = "ModelStoppedExternally"
ERROR_CLEANUP = "CleanupFailed"
ERROR_SUMMARY = "RunSummaryNotWritten"

REKOGNITION_TRANSIENT = (
    "Rekognition.ThrottlingException",
    "Rekognition.ProvisionedThroughputExceededException",
    "Rekognition.InternalServerErrorException",
)
REKOGNITION_IN_USE = "Rekognition.ResourceInUseException"
REKOGNITION_LIMIT = "Rekognition.LimitExceededException"
LAMBDA_TRANSIENT = (
    "Lambda.ResourceConflictException",  # mapping is still Enabling/Disabling/Updating
    "Lambda.ResourceInUseException",
    "Lambda.TooManyRequestsException",
    "Lambda.ServiceException",
)
SQS_TRANSIENT = ("Sqs.RequestThrottledException", "Sqs.SqsException")
SFN_TRANSIENT = ("Sfn.SfnException",)
S3_TRANSIENT = ("S3.S3Exception",)

# DescribeProjectVersions statuses, grouped by what a run does with them. Any other
# status (TRAINING_FAILED, DEPRECATED, EXPIRED, COPYING_*, DELETING, statuses AWS
# adds later) is unusable: the run fails with the status and its StatusMessage.
MODEL_READY = "RUNNING"
MODEL_STARTABLE = ("STOPPED", "TRAINING_COMPLETED", "COPYING_COMPLETED")
# A start that ended FAILED is not a training failure and may be transient: it is
# started again, at most WorkflowParams.max_start_attempts times per run.
MODEL_START_FAILED = "FAILED"
MODEL_TRANSITIONAL = ("STARTING", "STOPPING")
# The statuses a describe reports as booleans ($.model.current.is.<STATUS>), so the
# Choices never index a list that AWS may return empty.
MODEL_STATUSES_SEEN = (MODEL_READY, *MODEL_TRANSITIONAL, *MODEL_STARTABLE, MODEL_START_FAILED)
