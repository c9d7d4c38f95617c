"""Table 5: 4 experts with the load-balancing loss (eq. 2, α·CV(Σ_i G(z_i))² over the batch).

The paper does not give α; 1e-2 is our choice (LLaVA-MoLE's balancing weight).
"""

from mmengine.config import read_base

with read_base():
    from ...octavius_2d import *

model.adapters.router.balance_loss_weight = 1e-2
