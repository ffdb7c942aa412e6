"""Runs inside LocalStack's own venv (Python >= 3.12), never in the project's.

``python rekbatch_localstack.py`` starts LocalStack's runtime (host mode, no
Docker) with two additions the project's harness needs, both made through
LocalStack's own extension points:

- ``rekognition``: a service provider (LocalStack loads providers as plugins
  from the ``localstack.aws.provider`` entry-point namespace; emulator/localstack.py
  writes the entry point) that forwards every Rekognition operation to the
  project's Custom Labels model emulator at ``$REKBATCH_MODEL_ENDPOINT``. The
  community edition has no Rekognition; with it, Step Functions' aws-sdk
  rekognition tasks and the handler's DetectCustomLabels reach the same model
  emulator the moto engine uses.
- Step Functions' aws-sdk integration knows EventBridge by its integration
  name ``eventbridge`` (``arn:aws:states:::aws-sdk:eventbridge:putEvents``, as
  AWS spells it), mapped to boto's ``events``, errors prefixed ``EventBridge.``.
  LocalStack 2026.3.0 fails the task with "Unknown service: 'eventbridge'"
  (tripwire: tests/emulator/test_localstack.py).
- the SQS event source mapping poller is a no-op: LocalStack would invoke the
  function in Docker; the project's poller (emulator/poller.py) plays the Lambda
  service instead, as on moto. The mapping's states (Enabling -> Enabled,
  Disabling -> Disabled) are LocalStack's own.

Anything that imports the project (``emulator``, ``infra``) is out of place here:
this file is loaded by LocalStack's interpreter with LocalStack's packages only.
"""

from __future__ import annotations

import os
from typing import Any

from localstack.aws.forwarder import get_request_forwarder_http
from localstack.aws.spec import load_service
from localstack.services.plugins import Service, aws_provider

MODEL_ENDPOINT_VARIABLE = "REKBATCH_MODEL_ENDPOINT"


class RekognitionForwarder:
    """The provider object LocalStack's Service wants: only its service name."""

    service = "rekognition"


def _dispatch_table(_provider: object) -> dict[str, Any]:
    endpoint = os.environ[MODEL_ENDPOINT_VARIABLE]
    forward = get_request_forwarder_http(lambda _account, _region: endpoint)
    return {name: forward for name in load_service("rekognition").operation_names}


@aws_provider(api="rekognition", name="rekbatch")
def rekognition() -> Service:
    return Service.for_provider(RekognitionForwarder(), dispatch_table_factory=_dispatch_table)


def _no_lambda_polling() -> None:
    from localstack.services.lambda_.event_source_mapping.pollers.poller import (
        EmptyPollResultsException,
    )
    from localstack.services.lambda_.event_source_mapping.pollers.sqs_poller import SqsPoller

    def poll_events(self: Any) -> None:
        raise EmptyPollResultsException(service="sqs", source_arn=self.source_arn)

    SqsPoller.poll_events = poll_events


def _eventbridge_integration() -> None:
    from localstack.services.stepfunctions.asl.component.state.state_execution.state_task.service import (  # noqa: E501
        state_task_service,
        state_task_service_aws_sdk,
    )

    state_task_service.StateTaskService._SERVICE_NAME_SFN_TO_BOTO_OVERRIDES["eventbridge"] = (
        "events"
    )
    state_task_service_aws_sdk._SERVICE_ERROR_NAMES["eventbridge"] = "EventBridge"


def main() -> None:
    _no_lambda_polling()
    _eventbridge_integration()
    from localstack.runtime.main import main as localstack_main

    localstack_main()


if __name__ == "__main__":
    main()
