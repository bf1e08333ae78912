"""Running: one run start to end (run.py), the grid over methods, sizes and seeds (grid.py plans it, runner.py
runs it), runs packed onto one device (packing.py), the claims that keep two processes off one run, the
dashboard's job queue and worker, the estimate before launching, and the knowledge update after a run."""
