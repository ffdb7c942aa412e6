"""AWS's limits and the stack's fixed settings that the keys' bounds and rules use."""

from __future__ import annotations

LAMBDA_PYTHON_VERSION = "3.12"
LAMBDA_RUNTIME = "python3.12"
ARCHITECTURES = ("arm64", "x86_64")
WORKFLOW_LOG_LEVELS = ("ALL", "ERROR", "FATAL", "OFF")
# CloudWatch Logs accepts only these retention periods (PutRetentionPolicy).
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
    2922, 3288, 3653,
)  # fmt: skip
LAMBDA_MAX_TIMEOUT_SECONDS = 900
# Margin added to the expected model running time before the "model running too
# long" alarm fires: covers StopProjectVersion latency and metric granularity.
MODEL_ALARM_MARGIN_MINUTES = 15
# Queue retention. A message's age counts from its first enqueue, also in the
# DLQ, so the DLQ keeps messages longer than the queue (SQS's maximum, 14 days):
# a message dead-lettered on its last day in the queue still has 4 days in the
# DLQ to be looked at and redriven. A backlog older than 10 days (a pipeline
# paused that long) expires from the queue, never from S3: `rekbatch backfill`
# queues what is still in the source bucket again.
QUEUE_RETENTION_SECONDS = 10 * 24 * 3600
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
# After max-run disables the mapping, the model stays up for the invocations
# already running (up to the function timeout) and the batches a poller was
# still gathering (the batching window), plus this margin for the mapping's
# Disabling -> Disabled transition.
DISABLE_GRACE_MARGIN_SECONDS = 15
# CloudWatch evaluates at most one day of data per alarm (period x periods).
ALARM_MAX_EVALUATION_MINUTES = 24 * 60
# The stall alarm (age of the oldest queued image) must fire while that image is
# still queued: at most the queue's retention minus a day left to act (fix the
# cause, run, redrive) before SQS deletes the message. Below 5 minutes it would
# only echo SQS's metric granularity.
STALL_ALARM_ACT_MARGIN_MINUTES = 24 * 60
STALL_ALARM_MIN_MINUTES = 5
STALL_ALARM_MAX_MINUTES = QUEUE_RETENTION_SECONDS // 60 - STALL_ALARM_ACT_MARGIN_MINUTES
# kmsKey: this value makes the stack create its own key.
KMS_CREATE = "create"
