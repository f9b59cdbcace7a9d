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

local function readyCondition(status)
  if status.conditions == nil then
    return nil
  end
  for _, condition in ipairs(status.conditions) do
    if condition.type == "Ready" then
      return condition
    end
  end
  return nil
end

local status = obj.status
if status == nil or status.phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator"
  return hs
end

local generation = obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = string.format("Waiting for the operator to observe generation %d", generation)
  return hs
end

local state = states[status.phase]
if state == nil then
  hs.status = "Unknown"
  hs.message = "Unknown phase " .. status.phase
  return hs
end

local ready = readyCondition(status)
-- A healthy phase with a False Ready condition is not healthy, unless the phase is itself a
-- verdict (a finished TrainingRun's Ready condition only explains it).
if state == "Healthy" and not verdictPhases[status.phase] and ready ~= nil and ready.status == "False" then
  state = "Degraded"
end

hs.status = state
if ready ~= nil and ready.message ~= nil and ready.message ~= "" then
  hs.message = status.phase .. ": " .. ready.message
else
  hs.message = status.phase
end
return hs
