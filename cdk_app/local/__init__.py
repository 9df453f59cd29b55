"""The local sandbox: the pipeline on this machine, with no AWS account.

* :mod:`cdk_app.local.pipeline`: runs the state machine definition in moto with the real step
  handlers in process (the harness of the dry run and of tests/statemachine/);
* :mod:`cdk_app.local.bedrock`: the offline stand-in for Amazon Bedrock, one double for the dry
  run and the tests (its parts: account, catalogue, client, control_plane, runtime, datasets,
  answers, vocabulary);
* :mod:`cdk_app.local.dry_run`: `make dry-run` / `vsr dry-run`, one whole run with the stand-in.
"""
