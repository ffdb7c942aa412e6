"""Plan the run's size before the model is touched.

With backlog-aware sizing on (``target_run_minutes`` > 0) a run starts the
model with ``ceil(backlog / (tps_per_unit x 60 x target_run_minutes))``
inference units, bounded by min_inference_units and ``max_units``; JSONPath
can not divide, so the builder renders that as a Choice ladder of backlog
thresholds. A model found RUNNING is used as it is: the plan takes its units.
Each rung is one Pass writing ``$.plan``: the units, the mapping's
MaximumConcurrency for them, the planned images/s, and the backlog thresholds
above which the drain may wait each of its poll intervals.
"""

from __future__ import annotations

from typing import Any

from infra.statemachine import asl, model
from infra.statemachine import names as n
from infra.statemachine.errors import MODEL_RUNNING
from infra.statemachine.params import COST_UNIT_USD, WorkflowParams
from infra.statemachine.tasks import UNITS, model_is

ENTRY = n.PLAN

# The drain waits w seconds only while the backlog left would take at least
# DRAIN_MARGIN x w seconds at the planned throughput: a model faster than planned
# (tps_per_unit set low) still never idles through a long wait.
DRAIN_MARGIN = 2.0


def plan_record(p: WorkflowParams, units: int) -> dict[str, Any]:
    tps = units * p.tps_per_unit
    units_per_second = units * p.price_per_inference_unit_hour / 3600 / COST_UNIT_USD
    return {
        "units": units,
        "concurrency": p.concurrency_for(units),
        "tpsPlanned": round(tps, 3),
        "tpsPerUnit": p.tps_per_unit,
        "targetRunMinutes": p.target_run_minutes,
        "drainAbove": {
            f"w{wait}": round(DRAIN_MARGIN * tps * wait, 3) for wait in p.drain_waits()[:-1]
        },
        # Model cost of each drain wait (and of the confirmation), in whole
        # ten-thousandths of a USD: States.MathAdd adds integers.
        "cost": {
            f"w{wait}": round(units_per_second * wait)
            for wait in sorted({*p.drain_waits(), p.confirm_seconds}, reverse=True)
        },
    }


def unit_range(p: WorkflowParams) -> range:
    return range(p.min_inference_units, p.max_units + 1)


def states(p: WorkflowParams) -> asl.States:
    low, high = p.min_inference_units, p.max_units
    capacity = p.tps_per_unit * 60 * p.target_run_minutes  # images per unit per target run
    running = model_is(MODEL_RUNNING)
    by_backlog = [
        asl.when(
            "$.backlog.total",
            "NumericGreaterThan",
            round((units - 1) * capacity, 3),
            n.plan_units(units),
        )
        for units in range(high, low, -1)
        if p.target_run_minutes
    ]
    read_units: list[dict[str, Any]] = []
    running_units: asl.States = {}
    if high > low:
        read_units.append(
            asl.rule(asl.all_of(running, asl.cond(UNITS, "IsNumeric", True)), n.READ_RUNNING_UNITS)
        )
        running_units = {
            n.READ_RUNNING_UNITS: asl.pass_state(
                n.PLAN_FOR_RUNNING_UNITS,
                parameters={"units.$": UNITS},
                result_path="$.runningUnits",
            ),
            n.PLAN_FOR_RUNNING_UNITS: asl.choice(
                [
                    asl.when(
                        "$.runningUnits.units",
                        "NumericGreaterThanEquals",
                        units,
                        n.plan_units(units),
                    )
                    for units in range(high, low, -1)
                ],
                default=n.plan_units(low),
            ),
        }
    return asl.merge(
        {
            n.PLAN: asl.choice(
                [
                    *read_units,
                    # RUNNING with units unknown: plan for the most it may have, so the
                    # drain never waits longer than that model needs.
                    asl.rule(running, n.plan_units(high)),
                    *by_backlog,
                ],
                default=n.plan_units(low),
                comment="Size the run: the model found RUNNING as it is, else from the backlog.",
            )
        },
        running_units,
        {
            n.plan_units(units): asl.pass_state(
                model.ENTRY, result=plan_record(p, units), result_path="$.plan"
            )
            for units in unit_range(p)
        },
    )
