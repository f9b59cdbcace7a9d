-- Argo CD health of a mlops.dev BatchPrediction, from status.phase, the Ready condition
-- and status.observedGeneration (the operator has not seen the latest spec yet -> Progressing).
-- A scheduled one between runs is Scheduled: Healthy, or Degraded when its last run failed (Ready False).
local hs = {}
local states = {
  Pending = "Progressing",
  Running = "Progressing",
  Succeeded = "Healthy",
  Scheduled = "Healthy",
  Failed = "Degraded",
  Invalid = "Degraded",
}
local verdictPhases = {}
