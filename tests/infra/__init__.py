"""Tests of the Pulumi program (infra/), its configuration and the repository scripts."""
