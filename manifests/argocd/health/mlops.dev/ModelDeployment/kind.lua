-- Argo CD health of a mlops.dev ModelDeployment, from status.phase, the Ready condition
-- and status.observedGeneration (the operator has not seen the latest spec yet -> Progressing).
local hs = {}
local states = {
  Pending = "Progressing",
  Progressing = "Progressing",
  Paused = "Suspended",
  Serving = "Healthy",
  RolledBack = "Degraded",
  Failed = "Degraded",
}
local verdictPhases = {}
