"""Training and evaluation machinery on mmengine: hooks, loops, checkpoints."""
