"""The Pulumi program for llmhost: stack configuration -> Spec -> bundle -> cloud resources.

Pulumi runs ``infra/`` (``main: infra/`` in Pulumi.yaml) the way ``python infra/`` would:
chdir into this directory, then ``runpy.run_path("infra", run_name="__main__")``. That puts
this directory itself first on ``sys.path``, so two rules keep imports unambiguous:

* import siblings as ``infra.x`` / ``bootstrap.x`` (the repository is installed with
  ``-e .`` from requirements.txt, so both packages import from anywhere);
* never name a module here like a top-level package the program imports (no ``aws.py``,
  ``hcloud.py``, ``pulumi.py``): ``import hcloud`` would find ``infra/hcloud.py`` first.
"""
