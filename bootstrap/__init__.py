"""The server bundle: compose.yaml, Caddyfile, install.sh, units and user data, from one Spec.

Never imports Pulumi: the same bundle is rendered from the CLI, over SSH and on a laptop.
"""
