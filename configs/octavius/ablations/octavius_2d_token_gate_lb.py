"""Table 5 "Token" with load balancing: the token gate's Switch-style balancing loss at α = 1e-2
(the token router's balancing term; α is our choice)."""

from mmengine.config import read_base

with read_base():
    from .octavius_2d_token_gate import *

model.adapters.router.balance_loss_weight = 1e-2
