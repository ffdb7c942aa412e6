"""Error names and model statuses the workflow reacts to.

AWS SDK integration errors are "<ServiceName>.<ExceptionName>", PascalCase,
always with the "Exception" suffix (so InternalServerError becomes
InternalServerErrorException). Unmodelled errors carry the SDK's base class name.
"""

from __future__ import annotations

# Error names raised by the workflow itself (the Fail states' Error field).
ERROR_MODEL_UNUSABLE = "ModelUnusable"
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

# DescribeProjectVersions statuses, grouped by what a run does with them.
MODEL_READY = "RUNNING"
MODEL_STARTABLE = ("STOPPED", "TRAINING_COMPLETED")
MODEL_TRANSITIONAL = ("STARTING", "STOPPING")
