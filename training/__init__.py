"""What runs training: the trainer (a step, optimisers, schedules, the fast path, DDP), the run (its folder,
progress, saves, stop signals), the loop's seams, EMA, validation and the memory probe; models/ holds the models."""
