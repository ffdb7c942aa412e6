"""Phase 7: tell people and automation that a run ended.

After the summary is written (or failed to be), a run whose outcome is one of
``notify_outcomes`` publishes the summary's essentials to the stack's SNS topic
and puts the same as an event on the account's default EventBridge bus
(source ``rekognition-batch``, detail-type ``Rekognition Batch Run Finished``).
Both are best effort: a failure is recorded in ``$.notifyErrors`` and the run
ends as it would have; the cleanup is long done by then.

Why a phase of the workflow rather than an EventBridge rule on the execution's
status change: only the workflow knows the essentials (the rule would get the
execution output as one JSON string its input transformer can not parse, and
no summary at all for a failed execution).
"""

from __future__ import annotations

from typing import Any

from infra.contract import EVENT_DETAIL_TYPE, EVENT_SOURCE
from infra.statemachine import asl
from infra.statemachine import names as n
from infra.statemachine.errors import EVENTS_TRANSIENT, SNS_TRANSIENT
from infra.statemachine.params import WorkflowParams
from infra.statemachine.tasks import retry

MESSAGE = (
    "Run {} ended: {}. Messages queued at the start: {}; left in the queue: {}. "
    "Model: {} inference units; the drain took about {} s, about {} ten-thousandths of a USD "
    "(estimate, start-up and stop not included). "
    "Error: {}. Summary: {}. Console: {}"
)


def notifies(p: WorkflowParams) -> bool:
    return p.notification_topic_arn is not None or p.event_bus_arn is not None


def entry(p: WorkflowParams) -> str:
    """Where the summary phase goes next: this phase, or straight to the end."""
    return n.NOTIFY_WANTED if notifies(p) else n.FINISH


def _region(p: WorkflowParams) -> str:
    return p.project_arn.split(":")[3]


def notice(p: WorkflowParams) -> dict[str, Any]:
    """$.notice: the summary's essentials (also the EventBridge event's detail)."""
    region = _region(p)
    return {
        "executionName.$": "$$.Execution.Name",
        "execution.$": "$$.Execution.Id",
        "outcome.$": "$.outcome",
        "error.$": "$.error",
        "imagesAtStart.$": "$.backlog.total",
        "leftInQueue.$": "$.queue.total",
        "inferenceUnits.$": "$.plan.units",
        "modelRunningAt.$": "$.modelReady.at",
        "modelStopRequestedAt.$": "$.stopped.at",
        "drainSeconds.$": "$.drain.elapsed",
        "drainCostUsdE4.$": "$.drain.cost",
        "summary.$": (
            f"States.Format('s3://{p.final_bucket}/{{}}{{}}.json', $.config.runsPrefix, "
            "$$.Execution.Name)"
        ),
        "console.$": (
            f"States.Format('https://{region}.console.aws.amazon.com/states/home?region="
            f"{region}#/v2/executions/details/{{}}', $$.Execution.Id)"
        ),
    }


def states(p: WorkflowParams) -> asl.States:
    if not notifies(p):
        return {}
    after_sns = n.PUT_RUN_EVENT if p.event_bus_arn is not None else n.FINISH
    built: asl.States = {
        n.NOTIFY_WANTED: asl.choice(
            [
                {
                    "Or": [
                        {"Variable": "$.outcome", "StringEquals": outcome}
                        for outcome in p.notify_outcomes
                    ],
                    "Next": n.BUILD_NOTICE,
                }
            ],
            n.FINISH,
            comment="Only the outcomes this stack notifies (notifyOnOutcomes).",
        ),
        n.BUILD_NOTICE: asl.pass_state(
            n.PUBLISH_NOTICE if p.notification_topic_arn is not None else after_sns,
            parameters=notice(p),
            result_path="$.notice",
        ),
    }
    if p.notification_topic_arn is not None:
        args = ", ".join(
            f"$.notice.{field}"
            for field in (
                "executionName",
                "outcome",
                "imagesAtStart",
                "leftInQueue",
                "inferenceUnits",
                "drainSeconds",
                "drainCostUsdE4",
            )
        )
        built[n.PUBLISH_NOTICE] = asl.sdk_task(
            "sns:publish",
            {
                "TopicArn": p.notification_topic_arn,
                # Subject: at most 100 ASCII characters (SNS), so no execution name.
                "Subject.$": "States.Format('Rekognition batch run: {}', $.outcome)",
                "Message.$": (
                    f"States.Format('{MESSAGE}', {args}, States.JsonToString($.notice.error), "
                    "$.notice.summary, $.notice.console)"
                ),
            },
            {"messageId.$": "$.MessageId"},
            "$.notified.sns",
            after_sns,
            [retry(p, *SNS_TRANSIENT)],
            asl.catch(after_sns, "$.notifyErrors.sns"),
            "Run-end notification to the stack's topic (best effort).",
        )
    if p.event_bus_arn is not None:
        built[n.PUT_RUN_EVENT] = asl.sdk_task(
            "eventbridge:putEvents",
            {
                "Entries": [
                    {
                        "EventBusName": p.event_bus_arn,
                        "Source": EVENT_SOURCE,
                        "DetailType": EVENT_DETAIL_TYPE,
                        "Detail.$": "States.JsonToString($.notice)",
                        "Resources.$": "States.Array($$.Execution.Id)",
                    }
                ]
            },
            {"failedEntries.$": "$.FailedEntryCount"},
            "$.notified.event",
            n.EVENT_ACCEPTED,
            [retry(p, *EVENTS_TRANSIENT)],
            asl.catch(n.FINISH, "$.notifyErrors.event"),
            "The same essentials as an event on the default bus (best effort).",
        )
        # PutEvents answers 200 with FailedEntryCount > 0 for an entry it rejected.
        built[n.EVENT_ACCEPTED] = asl.choice(
            [asl.when("$.notified.event.failedEntries", "NumericGreaterThan", 0, n.EVENT_REJECTED)],
            n.FINISH,
        )
        built[n.EVENT_REJECTED] = asl.pass_state(
            n.FINISH,
            parameters={
                "Error": "EventBridge.FailedEntry",
                "Cause": "PutEvents rejected the run-end event (FailedEntryCount > 0).",
            },
            result_path="$.notifyErrors.event",
        )
    return built
