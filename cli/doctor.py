"""``rekbatch doctor``: prove a deployed stack on its account before its first run.

Everything that can be checked without starting the model, each check one row
of a table (check, result, what to do):

- every Task of the deployed definition (found in DescribeStateMachine's
  definition, classified by its ``Resource``, never by its name):
  read-only calls run for real with Step Functions ``TestState`` (the state's
  own JSON with ``Next`` replaced by ``End``, the workflow's role, the input
  the workflow gives it there, inspection level DEBUG); the mapping disable
  runs for real when that changes nothing (no run in progress, the mapping
  Disabled); every other call is not run: its parameters are evaluated by
  TestState in a Pass state, its IAM is simulated for the workflow role on the
  exact resource (``iam:SimulatePrincipalPolicy``, the stack key too), and
  the parameter names and ResultSelector paths of every Task are checked
  against the API's model (cli/awsmodel.py);
- probes of the interpreter constructs the definition must not depend on
  (cli/probes.py);
- the stack around the workflow (cli/stackchecks.py).

Results: PASS, WARN (works, but look), FAIL (the first run would fail or do
the wrong thing), NOT CHECKABLE (could not be decided here, and says why:
never a silent pass). Exit 0 when nothing FAILs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from infra import outputs as out

from . import aslwalk, awsmodel
from .checkrows import FAIL, NOT_CHECKABLE, PASS, RANK, WARN, Row, aws_failure, simulate, worst
from .errors import UnexpectedResponse, error_code, reading
from .operations import any_execution_running
from .stack import Stack

WORKERS = 8  # AWS calls in flight at once (each check is a few small calls)
SERVICES = (
    "stepfunctions",
    "iam",
    "sqs",
    "s3",
    "lambda",
    "rekognition",
    "sns",
    "logs",
    "scheduler",
)


@dataclass
class Report:
    rows: list[Row]
    seconds: float

    @property
    def ok(self) -> bool:
        return not any(row.result == FAIL for row in self.rows)

    def counts(self) -> dict[str, int]:
        found = dict.fromkeys(RANK, 0)
        for row in self.rows:
            found[row.result] += 1
        return found

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "seconds": round(self.seconds, 2),
            "counts": self.counts(),
            "checks": [asdict(row) for row in self.rows],
        }


# ------------------------------------------------------------------ the workflow


@dataclass
class Workflow:
    """What the Task checks share: the deployed definition and where it runs."""

    definition: Mapping[str, Any]
    state_machine_arn: str
    role_arn: str
    partition: str
    region: str
    account: str
    key_arn: str | None
    now_iso: str
    disable_safe: bool  # no run in progress and the mapping Disabled
    disable_reason: str  # why not, when not


RETRIABLE_TRIES = 3  # a state whose error its own Retry matches (throttling): asked again
RETRIABLE_PAUSE = 1.0  # seconds before the second try, doubling


def _test_state(
    sfn: Any,
    state: Mapping[str, Any],
    role_arn: str,
    document: Any,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """TestState at DEBUG; a RETRIABLE answer (the state's own Retry matched, as for
    a throttle) is asked again a few times, as the workflow would retry it."""
    pause = RETRIABLE_PAUSE
    for attempt in range(RETRIABLE_TRIES):
        answer: dict[str, Any] = sfn.test_state(
            definition=json.dumps(state),
            roleArn=role_arn,
            input=json.dumps(document),
            inspectionLevel="DEBUG",
        )
        if answer.get("status") != "RETRIABLE" or attempt == RETRIABLE_TRIES - 1:
            break
        sleep(pause)
        pause *= 2
    return answer


def mock_supported(sfn: Any) -> bool:
    """Whether the installed SDK's TestState takes ``mock`` (newer API versions)."""
    shape = sfn.meta.service_model.operation_model("TestState").input_shape
    return "mock" in shape.members


def _mocked(
    sfn: Any, flow: Workflow, task: aslwalk.TaskState, state: Mapping[str, Any], document: Any
) -> tuple[str, str]:
    """The state itself on a mocked response of the API's shape (validated STRICT by
    Step Functions): its ResultSelector and ResultPath on AWS's interpreter."""
    sample = awsmodel.sample_response(awsmodel.operation(task.service, task.action))
    try:
        answer = sfn.test_state(
            definition=json.dumps(state),
            roleArn=flow.role_arn,
            input=json.dumps(document),
            inspectionLevel="DEBUG",
            mock={"result": json.dumps(sample), "fieldValidationMode": "STRICT"},
        )
    except (ClientError, BotoCoreError) as exc:
        return WARN, f"mocked run refused: {aws_failure(exc, 'TestState')}"
    if answer.get("status") != "SUCCEEDED":
        return WARN, f"mocked run (a sample response): {_failure(answer)}"
    return PASS, "its ResultSelector/ResultPath ran on a mocked response (STRICT)"


def _failure(answer: Mapping[str, Any]) -> str:
    error, cause = answer.get("error") or "", answer.get("cause") or ""
    return f"{answer.get('status')}: {error} {cause}".strip()[:400]


def _advice_for_error(text: str, task: aslwalk.TaskState, role_arn: str) -> str:
    if "AccessDenied" in text or "not authorized" in text:
        return (
            f"grant {awsmodel.iam_action(task)} on this resource to the workflow role "
            f"{role_arn.rsplit('/', 1)[-1]} (infra/policies.py state_machine_policy), then `pulumi up`"
        )
    return f"fix state {task.label} (its Parameters or ResultSelector), then `pulumi up`"


def check_task(aws: Any, flow: Workflow, task: aslwalk.TaskState) -> Row:
    """One Task: the API model, then TestState (read-only) or IAM (the rest)."""
    name = f"state {task.label} ({task.api})"
    if task.kind == aslwalk.KIND_OTHER:
        return Row(
            name,
            NOT_CHECKABLE,
            "not an aws-sdk integration: the doctor does not know it",
            "check this state by hand",
        )
    try:
        op = awsmodel.operation(task.service, task.action)
    except awsmodel.UnknownApi as exc:
        return Row(name, FAIL, str(exc), f"fix the Resource of state {task.label}")
    problems = awsmodel.parameter_problems(op, task.state.get("Parameters") or {})
    problems += awsmodel.result_path_problems(op, task.state.get("ResultSelector"))
    context = aslwalk.context_values(
        state_machine_arn=flow.state_machine_arn,
        role_arn=flow.role_arn,
        state_name=task.name,
        now_iso=flow.now_iso,
    )
    unknown: set[str] = set()
    state = aslwalk.fill_context(aslwalk.standalone(task.state), context, unknown)
    document = aslwalk.input_for(flow.definition, task)
    sfn = aws.client("stepfunctions")
    notes: list[str] = []
    if unknown:
        notes.append(f"context paths the doctor can not fill: {', '.join(sorted(unknown))}")
    run_it = task.kind == aslwalk.KIND_READ or (
        task.kind == aslwalk.KIND_DISABLE and flow.disable_safe
    )
    if task.kind == aslwalk.KIND_DISABLE and not flow.disable_safe:
        notes.append(f"not executed: {flow.disable_reason}")
    if problems:
        return Row(
            name, FAIL, "; ".join(problems + notes), f"fix state {task.label}, then `pulumi up`"
        )
    if run_it:
        try:
            answer = _test_state(sfn, state, flow.role_arn, document)
        except (ClientError, BotoCoreError) as exc:
            return Row(
                name,
                NOT_CHECKABLE,
                f"TestState failed: {aws_failure(exc, 'TestState')}",
                "allow states:TestState and iam:PassRole on the workflow role to your identity",
            )
        if answer.get("status") != "SUCCEEDED":
            text = _failure(answer)
            return Row(
                name,
                FAIL,
                f"ran on the account: {text}",
                _advice_for_error(text, task, flow.role_arn),
            )
        with reading("TestState"):
            data = answer.get("inspectionData") or {}
            request = json.loads(data.get("afterParameters") or "{}")
        result, details, advice = _authorised(aws, flow, task, request)
        if notes:
            result = worst(result, WARN)
        ran = f"ran with TestState, selected {_short(data.get('afterResultSelector'))}"
        return Row(name, result, "; ".join([ran, *notes, *details]), advice)
    return _simulate(aws, flow, task, state, document, name, notes)


def _short(text: Any, limit: int = 120) -> str:
    value = str(text)
    return value if len(value) <= limit else value[: limit - 3] + "..."


def _simulate(
    aws: Any,
    flow: Workflow,
    task: aslwalk.TaskState,
    state: Mapping[str, Any],
    document: Any,
    name: str,
    notes: list[str],
) -> Row:
    """A call that changes something: its request evaluated on the account (a Pass
    state with the same Parameters), its IAM simulated."""
    sfn = aws.client("stepfunctions")
    probe = {"Type": "Pass", "Parameters": state.get("Parameters") or {}, "End": True}
    try:
        answer = _test_state(sfn, probe, flow.role_arn, document)
    except (ClientError, BotoCoreError) as exc:
        return Row(
            name,
            NOT_CHECKABLE,
            f"TestState failed: {aws_failure(exc, 'TestState')}",
            "allow states:TestState and iam:PassRole on the workflow role to your identity",
        )
    if answer.get("status") != "SUCCEEDED":
        return Row(
            name,
            FAIL,
            f"its Parameters do not evaluate: {_failure(answer)}",
            f"fix the Parameters of state {task.label}, then `pulumi up`",
        )
    with reading("TestState"):
        request = json.loads(answer.get("output") or "{}")
    result, details, advice = _authorised(aws, flow, task, request)
    if mock_supported(sfn):
        verdict, text = _mocked(sfn, flow, task, state, document)
        result = worst(result, verdict)
        details.append(text)
    notes = ["not executed (it changes something)", *notes]
    if len(notes) > 1:
        result = worst(result, WARN)
    return Row(name, result, "; ".join(notes + details), advice)


def _authorised(
    aws: Any, flow: Workflow, task: aslwalk.TaskState, request: Mapping[str, Any]
) -> tuple[str, list[str], str]:
    """(result, details, advice) of the IAM simulation of one call."""
    try:
        wanted = awsmodel.authorisations(
            task, request, partition=flow.partition, region=flow.region, account=flow.account
        )
    except LookupError as exc:
        return NOT_CHECKABLE, [str(exc)], "check the workflow role's grant by hand"
    if flow.key_arn:
        wanted += awsmodel.kms_authorisations(task, flow.key_arn, flow.region)
    if not wanted:
        return NOT_CHECKABLE, ["no resource to simulate (the request names none)"], ""
    result, details, advice = PASS, [], ""
    iam = aws.client("iam")
    for need in wanted:
        verdict, text = simulate(iam, flow.role_arn, need)
        result = worst(result, verdict)
        details.append(text)
        if verdict == FAIL:
            advice = (
                f"grant {need.action} on {need.resource} to the workflow role "
                f"{flow.role_arn.rsplit('/', 1)[-1]} (infra/policies.py), then `pulumi up`"
            )
        elif verdict == NOT_CHECKABLE and not advice:
            advice = (
                "allow iam:SimulatePrincipalPolicy to your identity, or check the grant by hand"
            )
    return result, details, advice


def _workflow(aws: Any, stack: Stack) -> tuple[Workflow | None, Row]:
    arn = str(stack.get(out.STATE_MACHINE_ARN) or "")
    sfn = aws.client("stepfunctions")
    try:
        described = sfn.describe_state_machine(stateMachineArn=arn)
        running = any_execution_running(sfn, arn)
    except (ClientError, BotoCoreError) as exc:
        return None, Row(
            "state machine",
            FAIL,
            aws_failure(exc, f"state machine {arn}"),
            "deploy the stack (`pulumi up`) or pass the right --stack/--outputs",
        )
    try:
        with reading("DescribeStateMachine"):
            role_arn, text = str(described["roleArn"]), str(described["definition"])
    except UnexpectedResponse as exc:
        return None, Row("state machine", NOT_CHECKABLE, f"unexpected response from AWS ({exc})")
    try:
        definition = json.loads(text)
    except ValueError:
        return None, Row(
            "state machine", FAIL, "its definition is not JSON", "redeploy (`pulumi up`)"
        )
    parts = arn.split(":")
    disable_safe, reason = True, ""
    if running:
        disable_safe, reason = False, "a run is in progress"
    uuid = stack.get(out.EVENT_SOURCE_MAPPING_UUID)
    if disable_safe:
        try:
            mapping = aws.client("lambda").get_event_source_mapping(UUID=str(uuid))
            if mapping.get("State") != "Disabled":
                disable_safe, reason = False, f"the mapping is {mapping.get('State')}"
        except (ClientError, BotoCoreError, ValueError) as exc:
            disable_safe, reason = (
                False,
                f"the mapping could not be read ({aws_failure(exc, 'mapping')})",
            )
    flow = Workflow(
        definition=definition,
        state_machine_arn=arn,
        role_arn=role_arn,
        partition=parts[1],
        region=parts[3],
        account=parts[4],
        key_arn=str(stack.get(out.KMS_KEY_ARN)) if stack.get(out.KMS_KEY_ARN) else None,
        now_iso=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        disable_safe=disable_safe,
        disable_reason=reason,
    )
    tasks = aslwalk.task_states(definition)
    return flow, Row(
        "state machine",
        PASS,
        f"{described.get('status', 'ACTIVE')}, {len(tasks)} Task states, role {flow.role_arn}",
    )


# --------------------------------------------------------------------- the run


Check = Callable[[], list[Row]]


def run_doctor(aws: Any, stack: Stack, *, on_row: Callable[[Row], None] | None = None) -> Report:
    """Every check, concurrently; rows in a fixed order (workflow, probes, stack)."""
    from .probes import probe_rows
    from .stackchecks import stack_checks

    started = time.monotonic()
    for service in SERVICES:  # once, here: a client is slow to build, and the pool would race
        aws.client(service)
    flow, head = _workflow(aws, stack)
    groups: list[Check] = []
    if flow is not None:
        known = flow
        groups += [_task_check(aws, known, task) for task in aslwalk.task_states(known.definition)]
        groups.append(lambda: probe_rows(aws, known.role_arn))
    groups += stack_checks(aws, stack, flow.definition if flow is not None else None)
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        results = list(pool.map(lambda check: check(), groups))
    rows = [head] + [row for group in results for row in group]
    if on_row is not None:
        for row in rows:
            on_row(row)
    return Report(rows, time.monotonic() - started)


def _task_check(aws: Any, flow: Workflow, task: aslwalk.TaskState) -> Check:
    def run() -> list[Row]:
        return [_guarded(lambda: check_task(aws, flow, task), task.label)]

    return run


def _guarded(check: Callable[[], Row], label: str) -> Row:
    try:
        return check()
    except (ClientError, BotoCoreError) as exc:
        code = error_code(exc) if isinstance(exc, ClientError) else type(exc).__name__
        return Row(
            f"state {label}",
            NOT_CHECKABLE,
            aws_failure(exc, f"state {label}"),
            f"retry; AWS answered {code}",
        )
    except UnexpectedResponse as exc:
        return Row(f"state {label}", NOT_CHECKABLE, f"unexpected response from AWS ({exc})")


# ------------------------------------------------------------------- output


def print_report(ui: Any, report: Report) -> None:
    """The table (rich on a terminal, aligned plain lines otherwise) and a verdict."""
    if ui.interactive:
        from rich.table import Table

        table = Table(title="rekbatch doctor", show_lines=False)
        for column in ("check", "result", "detail", "what to do"):
            table.add_column(column, overflow="fold")
        colours = {PASS: "green", WARN: "yellow", FAIL: "red", NOT_CHECKABLE: "magenta"}
        for row in report.rows:
            table.add_row(
                row.check, f"[{colours[row.result]}]{row.result}[/]", row.detail, row.advice
            )
        ui.console.print(table)
    else:
        width = max(len(row.check) for row in report.rows)
        for row in report.rows:
            line = f"{row.check:<{width}}  {row.result:<13}  {row.detail}"
            ui.line(line + (f"  -> {row.advice}" if row.advice else ""))
    counts = report.counts()
    summary = ", ".join(f"{n} {name}" for name, n in counts.items() if n)
    verdict = "ready for its first run" if report.ok else "NOT ready: fix the FAIL rows"
    ui.line(f"{verdict} ({summary}; {report.seconds:.1f} s)")
    if counts[NOT_CHECKABLE]:
        ui.line("NOT CHECKABLE rows were not proven: read their detail")
