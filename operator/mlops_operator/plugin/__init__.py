"""`kubectl mlops`: a kubectl plugin for MLProjects, TrainingRuns and ModelDeployments.

Installed as the executable `kubectl-mlops` (so `kubectl mlops ...` finds it on PATH), following the
conventions of `kubectl argo rollouts`: one verb per action, `-n/--namespace`, `--context` and
`--kubeconfig`/`KUBECONFIG` like kubectl, and a one-line `Error: ...` (exit code 1) when an object is
missing or the cluster cannot be reached.

Modules: `kinds` (names and aliases), `client` (the only module that talks to the cluster),
`tree` (the status tree), `lineage`, `actions` (the patches and objects each verb writes),
`mdreport` (the ModelDeployment report) and `main` (the command line). All but `client` and
`main` are pure.
"""
