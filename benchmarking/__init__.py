"""scripts/benchmark.py's pieces: the command line and driver (cli), the measurements run in worker processes
(measure, flops, profile) and the printed figures (report)."""
