"""Health checks that prove the remote model really answers (``python -m checks``)."""
