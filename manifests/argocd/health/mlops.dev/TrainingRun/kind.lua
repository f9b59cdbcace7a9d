-- Argo CD health of a mlops.dev TrainingRun, from status.phase, the Ready condition
-- and status.observedGeneration (the operator has not seen the latest spec yet -> Progressing).
-- A Rejected run is a normal outcome of the champion gate, so it is Healthy; AwaitingApproval waits
-- for a person and is Suspended.
local hs = {}
local states = {
  Pending = "Progressing",
  Running = "Progressing",
  AwaitingApproval = "Suspended",
  Blessed = "Healthy",
  Rejected = "Healthy",
  Failed = "Degraded",
}
local verdictPhases = { Blessed = true, Rejected = true }
