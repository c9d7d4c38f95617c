"""A config file of a tiny instance-routed model, for the tool tests."""

from __future__ import annotations

from pathlib import Path

CONFIG = """default_scope = "octavius"
model = dict(
    type="MultimodalLLM",
    llm="{llm}",
    encoders=dict(image=dict(type="CLIPImageEncoder", pretrained="{clip}")),
    projector=dict(type="MLPProjector"),
    adapters=dict(preset="octavius", experts=dict(num_experts=4, rank=4, alpha=8.0, dropout=0.0)),
    generation=dict(max_new_tokens={max_new_tokens}),
)
"""


#: A quickstart section that re-prepares (from its cache) the assets the model is built from.
QUICKSTART = """quickstart = dict(tiny_assets=dict(root="{root}"))
"""


def write_config(
    assets, directory: Path, max_new_tokens: int = 12, quickstart: bool = False
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.py"
    text = CONFIG.format(llm=assets.llm, clip=assets.clip, max_new_tokens=max_new_tokens)
    if quickstart:
        text += QUICKSTART.format(root=assets.root)
    path.write_text(text)
    return path
