"""Names of the stack outputs: the contract between the Pulumi program, the
local emulator's stack (emulator/stack.py returns the same keys) and the CLI,
which reads them from `pulumi stack output --json`. No pulumi import here."""

SOURCE_BUCKET = "sourceBucket"
FINAL_BUCKET = "finalBucket"
QUEUE_URL = "queueUrl"
QUEUE_ARN = "queueArn"
DLQ_URL = "dlqUrl"
FUNCTION_NAME = "functionName"
EVENT_SOURCE_MAPPING_UUID = "eventSourceMappingUuid"
STATE_MACHINE_ARN = "stateMachineArn"
PROJECT_ARN = "projectArn"
PROJECT_VERSION_ARN = "projectVersionArn"
VERSION_NAME = "versionName"
REGION = "region"
MIN_INFERENCE_UNITS = "minInferenceUnits"
PRICE_PER_INFERENCE_UNIT_HOUR = "pricePerInferenceUnitHour"
RUNS_PREFIX = "runsPrefix"  # run summaries: s3://<finalBucket>/<runsPrefix><execution name>.json
FAILED_PREFIX = "failedPrefix"
# The results dataset (JSON Lines): s3://<finalBucket>/<resultsPrefix>dt=YYYY-MM-DD/*.jsonl
RESULTS_PREFIX = "resultsPrefix"
# The dataset's tables (runtime/tables.py) and where Athena runs queries over them.
GLUE_DATABASE = "glueDatabase"
RESULTS_TABLE = "resultsTable"
RUNS_TABLE = "runsTable"
ATHENA_WORKGROUP = "athenaWorkgroup"
QUERY_POLICY_ARN = "queryPolicyArn"  # attach to whoever queries with Athena
UPLOAD_COMMAND = "uploadCommand"
CONSOLE_URLS = "consoleUrls"
NOTIFICATION_TOPIC_ARN = "notificationTopicArn"  # run-end notifications (SNS)
DASHBOARD_URL = "dashboardUrl"  # the pipeline's CloudWatch dashboard
ALARM_TOPIC_ARN = (
    "alarmTopicArn"  # the alarms' SNS topic (`rekbatch doctor` checks its subscriptions)
)
KMS_KEY_ARN = "kmsKeyArn"  # only with a customer-managed key (config kmsKey)
ALERT_TOPIC_ARN = "alertTopicArn"  # only with config alertEmail: the label alert topic
# Emulator only: the SQS queue subscribed to the notification topic (demo, tests).
NOTIFICATION_QUEUE_URL = "notificationQueueUrl"
# Emulator only: an SQS queue an EventBridge rule sends the label alerts to (demo, tests).
ALERT_QUEUE_URL = "alertQueueUrl"

REQUIRED_BY_CLI = (
    SOURCE_BUCKET,
    FINAL_BUCKET,
    QUEUE_URL,
    DLQ_URL,
    STATE_MACHINE_ARN,
    PROJECT_ARN,
    PROJECT_VERSION_ARN,
    VERSION_NAME,
)

# Outputs a stack does not always have: the key only with kmsKey set, the alert
# topic only with alertEmail, the notification and alert queues only on the
# emulator, the Glue/Athena outputs only on AWS (the emulator queries with DuckDB).
CONDITIONAL = (
    KMS_KEY_ARN,
    ALERT_TOPIC_ARN,
    NOTIFICATION_QUEUE_URL,
    ALERT_QUEUE_URL,
    GLUE_DATABASE,
    RESULTS_TABLE,
    RUNS_TABLE,
    ATHENA_WORKGROUP,
    QUERY_POLICY_ARN,
)
