"""Table 5: 8 experts with the load-balancing loss (eq. 2; α = 1e-2, our choice)."""

from mmengine.config import read_base

with read_base():
    from .octavius_2d_e8 import *

model.adapters.router.balance_loss_weight = 1e-2
