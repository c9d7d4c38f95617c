"""The adapter layer: expert banks and routers around frozen linears, injected by rules."""
