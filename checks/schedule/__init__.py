"""Scheduled health checks: the systemd timer, the crontab line and the GitHub Actions workflow
(``.github/workflows/llmhost-check.yml``) all run ``python -m checks.schedule``; see the README,
"Scheduled checks and alerts"."""
