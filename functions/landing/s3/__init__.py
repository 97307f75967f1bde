"""Amazon S3: the client, event parsing (direct, SQS, EventBridge), HeadObject, listings."""
