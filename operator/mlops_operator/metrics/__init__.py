"""Per-predictor serving metrics (requests, errors, p95 latency) from the splitter or Prometheus."""
