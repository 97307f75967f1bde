"""Upload lifecycle events: the transactional outbox and its EventBridge publisher."""
