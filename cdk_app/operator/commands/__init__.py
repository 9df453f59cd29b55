"""The `vsr` commands by group: `cost`, `runs` (start, watch, runs, dry-run), `reports`,
`serving` (route, promote, rollback, status) and `account` (cleanup, doctor); `options` holds
what several of them share. `cdk_app.operator.cli` registers them on the app."""
