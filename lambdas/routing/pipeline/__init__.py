"""The distillation pipeline's core, for the pipeline Lambdas only (imports pydantic and boto3).

One module per concern, handlers stay thin (parse the event, call one function here):

* :mod:`.inputs`: the execution input contract (`parse_execution_input`, `InvalidInput`);
* :mod:`.state`: typed views of the execution state (`$.run`, `$.dataset`, ...);
* :mod:`.layout` and :mod:`.names`: the S3 keys and Bedrock names derived from the run id;
* :mod:`.errors`: the named errors the state machine retries or catches (re-exported here);
* `routing.settings` (outside this package, shared with the evaluation): `PipelineSettings`, the
  deployment's defaults, `from_environ`;
* `routing.clients` (outside this package, shared with the evaluation): the AWS clients and
  clock seam (`client`, `override_clients`, `now`, `override_clock`) that the tests and the
  local dry run replace;
* :mod:`.bedrock` and :mod:`.storage`: data access, each function taking its client;
* :mod:`.planning`, :mod:`.generation`, :mod:`.dataset`, :mod:`.distillation`,
  :mod:`.deployment`: the logic of each step.
"""

from . import errors
from .errors import *  # noqa: F403 - the named errors, listed once in errors.__all__
from .inputs import ExecutionInput, parse_execution_input
from .layout import RunLayout
from .names import RunNames, run_names
from .state import RunSettings, RunState

__all__ = [
    *errors.__all__,
    "ExecutionInput",
    "RunLayout",
    "RunNames",
    "RunSettings",
    "RunState",
    "parse_execution_input",
    "run_names",
]
