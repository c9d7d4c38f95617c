"""Test and demo material: tiny models, a tiny tokenizer, the asset cache, synthetic 2D/3D data.

Nothing in the runtime (adapters, models, data, engine, evaluation, checkpoints, export) imports
this package; the tests, the quickstart and the experiments import it by name:

- :mod:`octavius.testing.tiny_assets` — a tiny LLaMA, CLIP vision tower and Point-BERT saved to
  a directory and loaded back through ``from_pretrained``, as a 7B checkpoint would be;
- :mod:`octavius.testing.tiny_tokenizer` — a byte-level BPE tokenizer trained locally;
- :mod:`octavius.testing.asset_cache` — content-keyed, atomically built cache directories;
- :mod:`octavius.testing.synthetic` (with ``synthetic_2d`` / ``synthetic_3d``) — the
  deterministic synthetic 2D + 3D instruction set;
- :mod:`octavius.testing.quickstart` — the preparer of a config's ``quickstart`` section,
  registered in ``FUNCTIONS`` as ``prepare_quickstart``.
"""
