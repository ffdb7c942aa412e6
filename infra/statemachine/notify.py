"""Tell people and automation that a run ended.

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

ENTRY = n.NOTIFY_WANTED
# Where the phase ends: summary.END (named here, as summary.py imports this module).
EXIT = n.FINISH

# The message as a person would write it: the cost in USD with four decimals
# (the estimate counts ten-thousandths, params.COST_UNIT_USD), an error line
# only when the run has an error.
MESSAGE = (
    "Run {} ended: {}. Messages queued at the start: {}; left in the queue: {}. "
    "Model: {} inference units; the drain took about {} s and cost about {} USD "
    "(estimate, start-up and stop not included). "
)
ERROR_LINE = "Error: {}. "
LINKS = "Summary: {}. Console: {}"
_FIELDS = ("executionName", "outcome", "imagesAtStart", "leftInQueue", "inferenceUnits",
           "drainSeconds")  # fmt: skip

# Whole USD are taken out of the ten-thousandths place by place (no division in
# JSONPath): as many rounds as the digits of the whole USD add up to, at most 46
# below params.MAX_RUN_COST_UNITS (214,748 USD; 199,999 has the largest sum).
# Each round is a Choice and a Pass: 4 history events, within FIXED_EVENTS.
E4_PER_USD = 10_000
WHOLE_USD_PLACES = (100_000, 10_000, 1_000, 100, 10, 1)
MAX_WHOLE_USD_ROUNDS = 46


def notifies(p: WorkflowParams) -> bool:
    return p.notification_topic_arn is not None or p.event_bus_arn is not None


def entry(p: WorkflowParams) -> str:
    """Where the summary phase goes next: this phase, or straight to the end."""
    return n.NOTIFY_WANTED if notifies(p) else EXIT


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
    after_sns = n.PUT_RUN_EVENT if p.event_bus_arn is not None else EXIT
    built: asl.States = {
        n.NOTIFY_WANTED: asl.choice(
            [
                asl.rule(
                    asl.any_of(
                        *(asl.cond("$.outcome", "StringEquals", o) for o in p.notify_outcomes)
                    ),
                    n.BUILD_NOTICE,
                )
            ],
            default=EXIT,
            comment="Only the outcomes this stack notifies (notifyOnOutcomes).",
        ),
        n.BUILD_NOTICE: asl.pass_state(
            n.START_COST_WORDS if p.notification_topic_arn is not None else after_sns,
            parameters=notice(p),
            result_path="$.notice",
        ),
    }
    if p.notification_topic_arn is not None:
        built.update(cost_words(n.HAS_RUN_ERROR))
        built.update(message(n.PUBLISH_NOTICE))
        built[n.PUBLISH_NOTICE] = asl.sdk_task(
            "sns:publish",
            parameters={
                "TopicArn": p.notification_topic_arn,
                # Subject: at most 100 ASCII characters (SNS), so no execution name.
                "Subject.$": "States.Format('Rekognition batch run: {}', $.outcome)",
                "Message.$": "$.noticeText.text",
            },
            result_selector={"messageId.$": "$.MessageId"},
            result_path="$.notified.sns",
            next_state=after_sns,
            retry=[retry(p, *SNS_TRANSIENT)],
            catch=asl.catch(after_sns, "$.notifyErrors.sns"),
            comment="Run-end notification to the stack's topic (best effort).",
        )
    if p.event_bus_arn is not None:
        built[n.PUT_RUN_EVENT] = asl.sdk_task(
            "eventbridge:putEvents",
            parameters={
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
            result_selector={"failedEntries.$": "$.FailedEntryCount"},
            result_path="$.notified.event",
            next_state=n.EVENT_ACCEPTED,
            retry=[retry(p, *EVENTS_TRANSIENT)],
            catch=asl.catch(EXIT, "$.notifyErrors.event"),
            comment="The same essentials as an event on the default bus (best effort).",
        )
        # PutEvents answers 200 with FailedEntryCount > 0 for an entry it rejected.
        built[n.EVENT_ACCEPTED] = asl.choice(
            [asl.when("$.notified.event.failedEntries", "NumericGreaterThan", 0, n.EVENT_REJECTED)],
            default=EXIT,
        )
        built[n.EVENT_REJECTED] = asl.pass_state(
            EXIT,
            parameters={
                "Error": "EventBridge.FailedEntry",
                "Cause": "PutEvents rejected the run-end event (FailedEntryCount > 0).",
            },
            result_path="$.notifyErrors.event",
        )
    return built


def cost_words(next_state: str) -> asl.States:
    """$.costWords.text: $.notice.drainCostUsdE4 (ten-thousandths of a USD) as
    "0.0088", whole USD first, the four decimals padded with zeros."""
    take = [
        asl.when("$.costWords.e4", "NumericGreaterThanEquals", place * E4_PER_USD,
                 n.take_whole_usd(place))
        for place in WHOLE_USD_PLACES
    ]  # fmt: skip
    pads = [(10, 3), (100, 2), (1_000, 1)]
    built: asl.States = {
        n.START_COST_WORDS: asl.pass_state(
            n.FIND_WHOLE_USD,
            parameters={"usd": 0, "e4.$": "$.notice.drainCostUsdE4"},
            result_path="$.costWords",
        ),
        n.FIND_WHOLE_USD: asl.choice(take, default=n.PAD_COST_DECIMALS),
        n.PAD_COST_DECIMALS: asl.choice(
            [
                asl.when("$.costWords.e4", "NumericLessThan", below, n.word_cost(zeros))
                for below, zeros in pads
            ],
            default=n.word_cost(0),
        ),  # fmt: skip
    }
    for place in WHOLE_USD_PLACES:
        built[n.take_whole_usd(place)] = asl.pass_state(
            n.FIND_WHOLE_USD,
            parameters={
                "usd.$": f"States.MathAdd($.costWords.usd, {place})",
                "e4.$": f"States.MathAdd($.costWords.e4, {-place * E4_PER_USD})",
            },
            result_path="$.costWords",
        )
    for zeros in (3, 2, 1, 0):
        built[n.word_cost(zeros)] = asl.pass_state(
            next_state,
            parameters={
                "text.$": f"States.Format('{{}}.{'0' * zeros}{{}}', $.costWords.usd, "
                "$.costWords.e4)"
            },
            result_path="$.costWords",
        )
    return built


def message(next_state: str) -> asl.States:
    """$.noticeText: the message, with an error line only when the run has one."""
    args = ", ".join(f"$.notice.{field}" for field in _FIELDS) + ", $.costWords.text"
    links = "$.notice.summary, $.notice.console"
    return {
        n.HAS_RUN_ERROR: asl.choice(
            [asl.when("$.notice.error", "IsNull", True, n.WORD_NOTICE)],
            default=n.WORD_NOTICE_WITH_ERROR,
        ),
        n.WORD_NOTICE: asl.pass_state(
            next_state,
            parameters={"text.$": f"States.Format('{MESSAGE}{LINKS}', {args}, {links})"},
            result_path="$.noticeText",
        ),
        n.WORD_NOTICE_WITH_ERROR: asl.pass_state(
            next_state,
            parameters={
                "text.$": (
                    f"States.Format('{MESSAGE}{ERROR_LINE}{LINKS}', {args}, "
                    f"States.JsonToString($.notice.error), {links})"
                )
            },
            result_path="$.noticeText",
        ),
    }
