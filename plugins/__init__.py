"""Built-in components, written as plugins: encoders, routers and experts."""
