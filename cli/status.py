"""``rekbatch status``: the model, the queues, the oldest waiting image and the last runs.

``status_data`` gathers it as plain data (also the ``--json`` output);
``print_status`` writes it for a person.
"""

from __future__ import annotations

from typing import Any

from infra import outputs as out

from .aws import Aws, queue_depths
from .errors import reading
from .runs import (
    describe_model,
    figures,
    list_executions,
    parse_time,
    recent_summaries,
    throughput_advice,
)
from .stack import Stack
from .ui import Ui


def status_data(aws: Aws, stack: Stack, runs: int) -> dict[str, Any]:
    """Everything ``rekbatch status`` shows, as plain data (also its --json output)."""
    queue_url, dlq_url, sm_arn, project_arn, version, final_bucket = stack.require(
        out.QUEUE_URL,
        out.DLQ_URL,
        out.STATE_MACHINE_ARN,
        out.PROJECT_ARN,
        out.VERSION_NAME,
        out.FINAL_BUCKET,
    )
    model = describe_model(aws, project_arn, version)
    with reading("DescribeProjectVersions"):
        units = int(model.get("MinInferenceUnits") or stack.min_inference_units)
    queue = queue_depths(aws, queue_url)
    dlq = queue_depths(aws, dlq_url, "DLQ")
    executions = list_executions(aws, sm_arn, runs)
    recent = recent_summaries(aws, final_bucket, stack.runs_prefix, runs)
    throughput = throughput_advice(recent)
    summaries = {s["executionName"]: s for s in recent}
    rows = []
    for execution in executions:
        name = execution["name"]
        row: dict[str, Any] = {
            "name": name,
            "status": execution["status"],
            "started": _iso(execution.get("startDate")),
            "stopped": _iso(execution.get("stopDate")),
        }
        if name in summaries:
            fig = figures(summaries.pop(name), stack.price_per_iu_hour, units)
            row.update(
                outcome=fig.outcome,
                backlog=fig.backlog,
                left=fig.left,
                modelMinutes=round(fig.model_minutes, 2),
                inferenceUnits=fig.inference_units,
                estimatedCost=round(fig.cost, 4),
                error=fig.error,
            )
        else:
            row["outcome"] = (
                "running" if execution["status"] == "RUNNING" else execution["status"].lower()
            )
        rows.append(row)
    return {
        "model": {
            "projectArn": project_arn,
            "versionName": version,
            "status": model.get("Status"),
            "statusMessage": model.get("StatusMessage"),
            "inferenceUnits": units,
            "costPerHourWhileRunning": round(units * stack.price_per_iu_hour, 4),
        },
        "queue": queue,
        "dlq": dlq,
        "throughput": throughput,
        "waiting": _waiting(aws, stack),
        "runs": rows,
    }


def _waiting(aws: Aws, stack: Stack) -> dict[str, Any] | None:
    """The oldest image still in the source bucket (cli/backlog.py says why there)."""
    from .backlog import oldest_waiting

    bucket = stack.get(out.SOURCE_BUCKET)
    return oldest_waiting(aws.s3, bucket) if bucket else None


def _iso(value: Any) -> str | None:
    moment = parse_time(value)
    return moment.isoformat(timespec="seconds") if moment else None


def print_status(ui: Ui, data: dict[str, Any]) -> None:
    model, queue, dlq = data["model"], data["queue"], data["dlq"]
    line = f"model  {model['versionName']}: {model['status'] or 'state unknown'}"
    if model["status"] == "RUNNING":
        line += f" ({model['inferenceUnits']} IU, ≈ {model['costPerHourWhileRunning']:.2f} USD/hour while running)"
    if model.get("statusMessage"):
        line += f" - {model['statusMessage']}"
    ui.line(line)
    ui.line(
        f"queue  {queue['visible']} visible · {queue['inFlight']} in flight · {queue['delayed']} delayed"
    )
    dlq_total = dlq["total"]
    ui.line(
        f"DLQ    {dlq_total} message(s)"
        + ("  <- see docs/cli.md, Troubleshooting" if dlq_total else "")
    )
    throughput = data.get("throughput") or {}
    if throughput.get("observed") is not None:
        ui.line(
            f"model  {throughput['observed']:.2f} images/s per unit observed over "
            f"{throughput['runs']} run(s) · tpsPerUnit {throughput.get('planned') or '?'}"
        )
        if throughput.get("advice"):
            ui.warn(throughput["advice"])
    if data.get("waiting"):
        from .backlog import describe

        ui.line(describe(data["waiting"]))
    if not data["runs"]:
        ui.line("runs   none yet")
        return
    header = ("run", "started UTC", "status", "outcome", "backlog", "left", "model min", "USD")
    rows: list[tuple[str, ...]] = []
    errors: dict[int, str] = {}
    for row in data["runs"]:
        rows.append(
            (
                row["name"],
                (row["started"] or "")[5:16].replace("T", " "),
                row["status"],
                row.get("outcome") or "",
                _cell(row.get("backlog")),
                _cell(row.get("left")),
                _cell(row.get("modelMinutes")),
                "" if row.get("estimatedCost") is None else f"{row['estimatedCost']:.2f}",
            )
        )
        if row.get("error"):
            errors[len(rows) - 1] = str(row["error"])
    ui.line("last runs:")
    for i, cells in enumerate([header, *rows]):
        ui.line("  " + _aligned(cells, [header, *rows]))
        if i - 1 in errors:
            ui.line(f"    error: {errors[i - 1]}")


def _aligned(cells: tuple[str, ...], table: list[tuple[str, ...]]) -> str:
    """Columns padded to the widest cell; numbers (from 'backlog' on) right-aligned."""
    widths = [max(len(r[c]) for r in table) for c in range(len(cells))]
    return "  ".join(
        cell.rjust(widths[c]) if c >= 4 else cell.ljust(widths[c]) for c, cell in enumerate(cells)
    ).rstrip()


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


__all__ = ["print_status", "status_data"]
