"""Local serving: realise SeldonDeployments on this machine (MLServer processes + a traffic splitter)."""
