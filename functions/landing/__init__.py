"""landing: S3 object events to PostgreSQL metadata rows, on AWS Lambda."""

__version__ = "0.1.0"
