"""The distillation pipeline's logic, for the pipeline Lambdas only (imports pydantic and boto3).

One module per concern, handlers stay thin (parse the event, call one function here):

* :mod:`.inputs`: the execution input contract (`parse_execution_input`);
* :mod:`.names`: the Bedrock names derived from the run id;
* :mod:`.bedrock`: Bedrock data access, each function taking its client;
* :mod:`.planning`, :mod:`.generation`, :mod:`.dataset`, :mod:`.distillation`,
  :mod:`.local_training`, :mod:`.deployment`: the logic of each step (local_training, the tier-0
  model, is the only one importing numpy).

Shared with the evaluation, outside this package: `routing.state` (the execution state and
every step's event), `routing.layout` (the S3 keys of a run), `routing.storage` (S3 data
access), `routing.errors` (the named errors the state machine retries or catches) and
`routing.clients` (the AWS clients and clock seam that the tests and the local dry run replace).
"""
