"""The CDK app (entry point and typed configuration) and the operator CLI."""
