"""Every state name of the workflow, in one place, grouped by the phase that
defines the state.

A phase refers to its own states through these constants and to another
phase through that phase's ``ENTRY`` (or another name it exports), so a rename
is one edit and a typo is an import error, not a dangling Next (which
``build_definition`` refuses anyway). A name says what its state asks or does
(``IsOnlyTestEvents``, ``MarkFailed``, ``DisableMapping``), never where it sits.
"""

from __future__ import annotations

# --- guard.py: the run's initial document, then no double runs
INIT = "Init"
SETTLE_BEFORE_GUARD = "SettleBeforeGuard"
GUARD = "Guard"
ANY_RUN_LISTED = "AnyRunListed"
FIND_OLDEST = "FindOldest"
IS_OLDEST = "IsOldest"
SKIPPED = "Skipped"

# --- backlog.py (and peek.py): count the backlog, see the model as found, decide
GET_BACKLOG = "GetBacklog"
DESCRIBE_MODEL_FOUND = "DescribeModelFound"
RECORD_MODEL_FOUND = "RecordModelFound"
PEEK_WORTH_IT = "PeekWorthIt"
PEEK_QUEUE = "PeekQueue"
PEEK_RECEIVED_ANY = "PeekReceivedAny"
PEEK_INIT = "PeekInit"
PEEK_NEXT = "PeekNext"
PEEK_ITEM = "PeekItem"
PEEK_LOOKS_LIKE_TEST_EVENT = "PeekLooksLikeTestEvent"
PEEK_PARSE = "PeekParse"
PEEK_HAS_EVENT = "PeekHasEvent"
PEEK_EVENT_IS_STRING = "PeekEventIsString"
PEEK_IS_TEST_EVENT = "PeekIsTestEvent"
DELETE_TEST_EVENT = "DeleteTestEvent"
PEEK_DROPPED = "PeekDropped"
PEEK_KEEP = "PeekKeep"
PEEK_DONE = "PeekDone"
PEEK_DROPPED_ANY = "PeekDroppedAny"
RECOUNT_BACKLOG = "RecountBacklog"
PEEK_CLEARED = "PeekCleared"
IS_ONLY_TEST_EVENTS = "IsOnlyTestEvents"
HAS_BACKLOG = "HasBacklog"
IDLE_MODEL_RUNNING = "IdleModelRunning"
STOP_IDLE_MODEL = "StopIdleModel"
NOTHING_TO_DO = "NothingToDo"
MODEL_VERSION_FOUND = "ModelVersionFound"

# --- plan.py: the run's size
# The Passes that set the plan are named this + the units (the CLI finds the plan
# of a run in progress by it).
PLAN_UNITS_PREFIX = "PlanUnits"
PLAN = "Plan"
READ_RUNNING_UNITS = "ReadRunningUnits"
PLAN_FOR_RUNNING_UNITS = "PlanForRunningUnits"


def plan_units(units: int) -> str:
    """The Pass that sets the plan for this many inference units."""
    return f"{PLAN_UNITS_PREFIX}{units}"


# --- model.py: get the model RUNNING
ACT_ON_MODEL_STATUS = "ActOnModelStatus"
START_MODEL = "StartModel"
MARK_STARTED = "MarkStarted"
DESCRIBE_MODEL = "DescribeModel"
MODEL_READY = "ModelReady"
MODEL_UNUSABLE = "ModelUnusable"
MODEL_STOPPED_WHILE_STARTING = "ModelStoppedWhileStarting"
START_DEADLINE_PASSED = "StartDeadlinePassed"
MODEL_NOT_FOUND = "ModelNotFound"
START_FAILED = "StartFailed"
RESET_MODEL_WAIT = "ResetModelWait"


def count_model_wait(seconds: int) -> str:
    """The Pass that counts a describe of a model in transition, before its wait."""
    return f"CountModelWait{seconds}s"


def wait_for_model(seconds: int) -> str:
    """The Wait between describes of a STARTING model, per rung of the ladder."""
    return f"WaitForModel{seconds}s"


# --- drain.py: enable the mapping, poll until drained
ENABLE_MAPPING = "EnableMapping"
WAIT_FOR_QUEUE = "WaitForQueue"
POLL_QUEUE = "PollQueue"
DRAIN_DECISION = "DrainDecision"
WAIT_TO_CONFIRM_DRAIN = "WaitToConfirmDrain"
CHECK_MODEL = "CheckModel"
IS_MODEL_STILL_RUNNING = "IsModelStillRunning"
RESET_MODEL_CHECK = "ResetModelCheck"
MODEL_LOST = "ModelLost"
DRAINED = "Drained"
DRAINED_OUTCOME = "DrainedOutcome"
MAX_RUN_REACHED = "MaxRunReached"
MAX_RUN_REACHED_OUTCOME = "MaxRunReachedOutcome"
CONFIRM_DRAIN = "ConfirmDrain"
COUNT_CONFIRMATION = "CountConfirmation"
IS_STILL_EMPTY = "IsStillEmpty"


def count_poll(seconds: int) -> str:
    """The Pass that counts a drain poll followed by a wait of this many seconds."""
    return f"CountPoll{seconds}s"


# --- cleanup.py: disable the mapping, stop the model
MARK_FAILED = "MarkFailed"
DISABLE_MAPPING = "DisableMapping"
WAS_MAX_RUN_REACHED = "WasMaxRunReached"
GRACE_FOR_IN_FLIGHT = "GraceForInFlight"
DID_THIS_RUN_START_MODEL = "DidThisRunStartModel"
CLEANUP_DESCRIBE_MODEL = "CleanupDescribeModel"
SHOULD_STOP_MODEL = "ShouldStopModel"
COUNT_CLEANUP_WAIT = "CountCleanupWait"
CLEANUP_DEADLINE = "CleanupDeadline"
CLEANUP_WAIT_MODEL = "CleanupWaitModel"
CLEANUP_STUCK = "CleanupStuck"
STOP_MODEL = "StopModel"
MARK_STOPPED = "MarkStopped"
READ_MAPPING = "ReadMapping"
IS_MAPPING_DISABLED = "IsMappingDisabled"
COUNT_MAPPING_WAIT = "CountMappingWait"
MAPPING_DEADLINE = "MappingDeadline"
WAIT_FOR_MAPPING = "WaitForMapping"
MAPPING_NEEDS_DISABLE = "MappingNeedsDisable"
MAPPING_NOT_DISABLED = "MappingNotDisabled"
STOP_REFUSED = "StopRefused"
RECORD_STOP_ERROR = "RecordStopError"

# --- summary.py: the run summary and the end of the execution
BUILD_SUMMARY = "BuildSummary"
WRITE_SUMMARY = "WriteSummary"
FINISH = "Finish"
RUN_FAILED = "RunFailed"
RUN_FAILED_CAUSE = "RunFailedCause"
CLEANUP_FAILED_CAUSE = "CleanupFailedCause"
CLEANUP_FAILED = "CleanupFailed"
SUMMARY_FAILED = "SummaryFailed"
DONE = "Done"
LAST_MODEL_STATUS_KNOWN = "LastModelStatusKnown"
READ_LAST_MODEL_STATUS = "ReadLastModelStatus"

# --- notify.py: the run-end notification
EVENT_ACCEPTED = "EventAccepted"
EVENT_REJECTED = "EventRejected"
NOTIFY_WANTED = "NotifyWanted"
BUILD_NOTICE = "BuildNotice"
PUBLISH_NOTICE = "PublishNotice"
PUT_RUN_EVENT = "PutRunEvent"
START_COST_WORDS = "StartCostWords"
FIND_WHOLE_USD = "FindWholeUsd"
PAD_COST_DECIMALS = "PadCostDecimals"
HAS_RUN_ERROR = "HasRunError"
WORD_NOTICE = "WordNotice"
WORD_NOTICE_WITH_ERROR = "WordNoticeWithError"


def take_whole_usd(place: int) -> str:
    """The Pass that moves one ``place`` of whole USD out of the cost's ten-thousandths."""
    return f"TakeWholeUsd{place}"


def word_cost(zeros: int) -> str:
    """The Pass that writes the cost as text, its decimals padded with ``zeros`` zeros."""
    return f"WordCost{zeros}Zeros"


# --- tasks.py: the states of a describe (any phase)


def has_version(describe: str) -> str:
    """The Choice after a describe: did it list the version (a list of one)?"""
    return f"{describe}HasVersion"


def read_version(describe: str) -> str:
    """The Pass after a describe that listed the version: its one description."""
    return f"{describe}ReadVersion"
