"""Tests for policy/: the llmhost-security CrossGuard pack."""
