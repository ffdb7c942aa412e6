"""Write runs/<execution name>.json and end the execution: failed
runs and failed cleanups end in Fail states carrying the cause."""

from __future__ import annotations

from infra.contract import OUTCOME_FAILED, SUMMARY_SCHEMA_VERSION
from infra.statemachine import asl, notify
from infra.statemachine import names as n
from infra.statemachine.errors import ERROR_CLEANUP, ERROR_RUN_FAILED, ERROR_SUMMARY, S3_TRANSIENT
from infra.statemachine.params import WorkflowParams
from infra.statemachine.tasks import STATUS, retry

ENTRY = n.LAST_MODEL_STATUS_KNOWN
END = n.FINISH  # ends the execution: succeed, or fail with the cause


def states(p: WorkflowParams) -> asl.States:
    return {
        n.LAST_MODEL_STATUS_KNOWN: asl.choice(
            [asl.when("$.model.current.count", "NumericGreaterThan", 0, n.READ_LAST_MODEL_STATUS)],
            default=n.BUILD_SUMMARY,
        ),
        n.READ_LAST_MODEL_STATUS: asl.pass_state(
            n.BUILD_SUMMARY,
            parameters={"status.$": STATUS},
            result_path="$.model.last",
        ),
        n.BUILD_SUMMARY: asl.pass_state(
            n.WRITE_SUMMARY,
            parameters={
                "schemaVersion": SUMMARY_SCHEMA_VERSION,
                "execution.$": "$.self.executionArn",
                "executionName.$": "$$.Execution.Name",
                "stateMachine.$": "$$.StateMachine.Id",
                "outcome.$": "$.outcome",
                "error.$": "$.error",
                "config.$": "$.config",
                "backlogAtStart.$": "$.backlog",
                "testEventsDropped.$": "$.peek.dropped",
                "testEventPeek.$": "$.peek",
                "queueAtEnd.$": "$.queue",
                "modelStatusFound.$": "$.model.found",
                "modelUnitsFound.$": "$.model.unitsFound",
                "modelStatusLast.$": "$.model.last.status",
                "plan.$": "$.plan",
                "startedByThisRun.$": "$.started.byThisRun",
                "startAttempts.$": "$.started.attempts",
                "stoppedByThisRun.$": "$.stopped.byThisRun",
                "polls.$": "$.drain.polls",
                "drainWaitSeconds.$": "$.drain.elapsed",
                # ten-thousandths of a USD (the plan's units at pricePerInferenceUnitHour)
                "drainCostUsdE4.$": "$.drain.cost",
                "modelWaitPolls.$": "$.modelWait.polls",
                "cleanupErrors.$": "$.cleanupErrors",
                "timestamps": {
                    "executionStarted.$": "$.self.startedAt",
                    "modelStartRequested.$": "$.started.at",
                    "modelRunning.$": "$.modelReady.at",
                    "mappingEnabled.$": "$.mapping.enabled.at",
                    "drainEnded.$": "$.drainEnd.at",
                    "mappingDisabled.$": "$.mapping.disabled.at",
                    "modelStopRequested.$": "$.stopped.at",
                    "summaryWritten.$": "$$.State.EnteredTime",
                },
            },
            result_path="$.summary",
            comment=f"The run summary document (schemaVersion {SUMMARY_SCHEMA_VERSION}).",
        ),
        n.WRITE_SUMMARY: asl.sdk_task(
            "s3:putObject",
            parameters={
                "Bucket": p.final_bucket,
                "Key.$": "States.Format('{}{}.json', $.config.runsPrefix, $$.Execution.Name)",
                "ContentType": "application/json",
                # The object, not a string: AWS serializes the Body as JSON, so a
                # string would be stored as a JSON string literal, quotes included.
                "Body.$": "$.summary",
            },
            result_selector={"etag.$": "$.ETag"},
            result_path="$.summaryObject",
            next_state=notify.entry(p),
            retry=[retry(p, *S3_TRANSIENT)],
            catch=asl.catch(notify.entry(p), "$.cleanupErrors.summary"),
            comment="runs/<execution name>.json in the final bucket.",
        ),
        n.FINISH: asl.choice(
            [
                asl.when("$.outcome", "StringEquals", OUTCOME_FAILED, n.RUN_FAILED_CAUSE),
                asl.rule(
                    asl.any_of(
                        asl.cond("$.cleanupErrors.mapping", "IsPresent", True),
                        asl.cond("$.cleanupErrors.model", "IsPresent", True),
                    ),
                    n.CLEANUP_FAILED_CAUSE,
                ),
                asl.when("$.cleanupErrors.summary", "IsPresent", True, n.SUMMARY_FAILED),
            ],
            default=n.DONE,
        ),
        # Never re-raise the caught error: a Fail may not raise States.* (both
        # interpreters end such a run with States.Runtime and lose the cause).
        n.RUN_FAILED_CAUSE: asl.pass_state(
            n.RUN_FAILED,
            parameters={"cause.$": "States.Format('{}: {}', $.error.Error, $.error.Cause)"},
            result_path="$.failure",
        ),
        n.RUN_FAILED: asl.fail(error=ERROR_RUN_FAILED, cause_path="$.failure.cause"),
        n.CLEANUP_FAILED_CAUSE: asl.pass_state(
            n.CLEANUP_FAILED,
            parameters={"cause.$": "States.JsonToString($.cleanupErrors)"},
            result_path="$.failure",
        ),
        n.CLEANUP_FAILED: asl.fail(error=ERROR_CLEANUP, cause_path="$.failure.cause"),
        n.SUMMARY_FAILED: asl.fail(error=ERROR_SUMMARY, cause_path="$.cleanupErrors.summary.Cause"),
        n.DONE: {"Type": "Succeed", "OutputPath": "$.summary"},
    }
