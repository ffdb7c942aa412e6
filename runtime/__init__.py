"""The inference Lambda: SQS batches of S3 events -> DetectCustomLabels -> final bucket."""
