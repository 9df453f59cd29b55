"""The operator CLI `vsr` and its AWS access, split by concern.

AWS access (each AWS call in a small function taking its client; `api.Operator` composes them
for one deployment): `outputs` (stack discovery), `executions` (runs), `progress` (the one
interpreter of an execution's history), `reports`, `router_client`, `promotion`, `cleanup`,
`errors` (what the user can fix, in one line). Pure models: `cost` (estimates), `doctor`
(readiness checks). The CLI: `cli` (the typer app), `session` (configuration and clients),
`console` (output and formatting), `progress_view`, and the commands in `commands/`.
"""
