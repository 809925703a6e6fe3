"""llmhost-security: the CrossGuard policy pack (``pulumi preview --policy-pack policy``).

A package so that tests import ``policy.rules`` and ``policy.__main__``; Pulumi itself runs
the directory (see ``__main__.py``).
"""
