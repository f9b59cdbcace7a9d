-- Argo CD health of a mlops.dev MLProject, from status.phase, the Ready condition
-- and status.observedGeneration (the operator has not seen the latest spec yet -> Progressing).
local hs = {}
local states = {
  Ready = "Healthy",
  Training = "Progressing",
  Invalid = "Degraded",
  Degraded = "Degraded",
}
local verdictPhases = {}
