"""Key maps: rename (and reshape) the tensors of a published checkpoint into a model's names.

A :class:`KeyRule` matches source names with a regular expression and names one or more target
parameters, optionally transforming the tensor (a transpose, a rescale). :func:`map_keys` applies
the rules to a whole file and writes a :class:`KeyMapReport` that lists, by name, what did not fit:

- ``unmatched``: source keys no rule covers (the file is from another model or version);
- ``unknown``: source keys a rule sends to a parameter the model does not have;
- ``misshaped``: targets whose shape differs from the transformed source tensor;
- ``missing``: parameters the import should fill (``expected``) that no source key reached;
- ``ignored``: source keys deliberately skipped, each with its reason.

A rule with ``part=(i, n)`` fills chunk ``i`` of ``n`` equal chunks along the first dimension of
its target: several source tensors make one parameter (separate ``q``/``k``/``v`` projections
into a packed ``in_proj_weight``). A target is loaded only when all its parts are in the file.

:func:`load_mapped` copies the mapped tensors into the model after checking the report, so a
checkpoint that does not fit leaves the model unchanged and fails with every offending name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

__all__ = ["KeyMapReport", "KeyRule", "WeightsImportError", "load_mapped", "map_keys"]

_LISTED = 12

#: ``transform(tensor, target_name) -> tensor``.
Transform = Callable[[Tensor, str], Tensor]


class WeightsImportError(ValueError):
    """A published checkpoint does not fit the model it is imported into."""


@dataclass(frozen=True)
class KeyRule:
    """One renaming rule.

    Args:
        pattern: regular expression matched against the whole source key.
        target: replacement (``re`` syntax, ``\\1`` for groups), or a function from the match
            to the target names (one source tensor may fill several parameters).
        transform: applied to the tensor for each target (``tensor, target_name``).
        note: what the rule maps, shown in reports.
        part: ``(i, n)``: the tensor is chunk ``i`` of ``n`` along the target's first dimension.
    """

    pattern: str
    target: str | Callable[[re.Match[str]], list[str]]
    transform: Transform | None = None
    note: str = ""
    part: tuple[int, int] | None = None

    def targets(self, key: str) -> list[str] | None:
        """The target names of ``key``, or ``None`` when the rule does not match it."""
        match = re.fullmatch(self.pattern, key)
        if match is None:
            return None
        if callable(self.target):
            return list(self.target(match))
        return [match.expand(self.target)]


@dataclass
class KeyMapReport:
    """The outcome of :func:`map_keys`, everything by name."""

    source: str
    mapped: dict[str, list[str]] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    misshaped: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    ignored: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """No unmatched, unknown, mis-shaped or missing key."""
        return not (self.unmatched or self.unknown or self.misshaped or self.missing)

    def problems(self, strict: bool = True) -> list[str]:
        """One line per kind of problem (``missing`` only when ``strict``)."""
        lines = []
        for label, names in (
            ("unmatched source key(s) (no rule covers them)", self.unmatched),
            ("source key(s) naming parameters the model lacks", self.unknown),
            ("mis-shaped key(s)", self.misshaped),
            ("missing parameter(s) (not in the file)", self.missing if strict else []),
        ):
            if names:
                shown = ", ".join(names[:_LISTED])
                more = f", … and {len(names) - _LISTED} more" if len(names) > _LISTED else ""
                lines.append(f"{len(names)} {label}: {shown}{more}")
        return lines

    def summary(self) -> str:
        """A human-readable account of the import."""
        targets = sum(len(t) for t in self.mapped.values())
        lines = [f"{self.source}: {len(self.mapped)} source key(s) → {targets} parameter(s)"]
        lines += [f"  ignored {k}: {why}" for k, why in sorted(self.ignored.items())]
        lines += [f"  {line}" for line in self.problems()]
        return "\n".join(lines)


def map_keys(
    weights: Mapping[str, Tensor],
    rules: Sequence[KeyRule],
    params: Mapping[str, Tensor],
    *,
    source: str,
    expected: Iterable[str] = (),
    ignore: Mapping[str, str] | None = None,
) -> tuple[dict[str, Tensor], KeyMapReport]:
    """Rename ``weights`` by ``rules`` against the model's ``params``.

    Args:
        weights: the file's tensors by name.
        rules: tried in order; the first matching rule wins.
        params: the model's parameters (and buffers) by name.
        source: the file, named in the report.
        expected: parameters the import is meant to fill; absent ones are ``missing``.
        ignore: regular expression → reason, for source keys skipped on purpose.

    Returns:
        Target name → tensor (transformed, in the parameter's dtype), and the report.
    """
    report = KeyMapReport(source=source)
    out: dict[str, Tensor] = {}
    parts: dict[str, dict[int, Tensor]] = {}
    counts: dict[str, int] = {}
    for key in sorted(weights):
        tensor = weights[key]
        reason = next((why for pat, why in (ignore or {}).items() if re.fullmatch(pat, key)), None)
        if reason is not None:
            report.ignored[key] = reason
            continue
        rule, targets = next(
            ((r, t) for r in rules if (t := r.targets(key)) is not None), (None, None)
        )
        if rule is None or targets is None:
            report.unmatched.append(key)
            continue
        report.mapped[key] = targets
        for name in targets:
            if name not in params:
                report.unknown.append(f"{key} → {name}")
                continue
            value = rule.transform(tensor, name) if rule.transform else tensor
            want = params[name]
            shape = _part_shape(want.shape, rule.part)
            if shape is None or tuple(value.shape) != shape:
                of = f" as part {rule.part[0] + 1} of {rule.part[1]}" if rule.part else ""
                report.misshaped.append(
                    f"{key} → {name} (file {list(value.shape)}{of}, model {list(want.shape)})"
                )
                continue
            value = value.detach().to(dtype=want.dtype)
            if rule.part is None:
                out[name] = value
            else:
                parts.setdefault(name, {})[rule.part[0]] = value
                counts[name] = rule.part[1]
    incomplete = []
    for name, pieces in parts.items():
        if len(pieces) == counts[name]:
            out[name] = torch.cat([pieces[i] for i in range(counts[name])])
        else:
            absent = [i + 1 for i in range(counts[name]) if i not in pieces]
            incomplete.append(f"{name} (part(s) {absent} of {counts[name]} not in the file)")
    report.missing = sorted(n for n in expected if n not in out and n not in parts) + incomplete
    return out, report


def _part_shape(shape: Sequence[int], part: tuple[int, int] | None) -> tuple[int, ...] | None:
    """The shape a source tensor filling ``part`` of a target of ``shape`` must have."""
    if part is None:
        return tuple(shape)
    if not shape or shape[0] % part[1]:
        return None
    return (shape[0] // part[1], *shape[1:])


def load_mapped(
    model: nn.Module, tensors: Mapping[str, Tensor], report: KeyMapReport, strict: bool = True
) -> KeyMapReport:
    """Copy mapped tensors into ``model`` when the report allows it.

    Args:
        model: the model the names refer to.
        tensors: from :func:`map_keys`.
        report: from :func:`map_keys`.
        strict: also refuse when expected parameters are missing.

    Raises:
        WeightsImportError: listing every offending key; the model is left unchanged then.
    """
    problems = report.problems(strict)
    if problems:
        raise WeightsImportError(
            f"{report.source} does not fit {type(model).__name__}: " + "; ".join(problems) + "."
        )
    params = dict(model.named_parameters())
    params.update(model.named_buffers())
    with torch.no_grad():
        for name, tensor in tensors.items():
            params[name].copy_(tensor)
    return report
