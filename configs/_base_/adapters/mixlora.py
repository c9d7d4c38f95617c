"""MixLoRA (eq. 4–9): a pool of rank-1 LoRA factors in every decoder linear, per-linear routers.

One rule: every linear inside the decoder layers gets a pool of E = 16 rank-1 factors; its
Conditional Factor Selection router picks r = 4 factors for A and 4 for B per instance (IFS for
both, B refined by CFS). The router's rank follows the pool's (``rank_follows_experts``), so
``rank`` is stated once, here in the pool.
"""

adapters = dict(
    name="mixlora",
    targets=r"(.*\.)?(layers|h)\.\d+\..+",
    experts=dict(type="LoRAFactorPool", num_factors=16, rank=4),
    router=dict(type="ConditionalFactorRouter", use_cfs=True),
    sharing="module",
)
