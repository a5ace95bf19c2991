"""The problem one solve reads, in one object instead of an argument bundle."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from advisor.options import OptionSet


@dataclass(frozen=True)
class Problem:
    """The priced deployment options, the workloads and their hourly demand, the fleet
    already committed.

    The demand arrays are ``(H, W)``: hours × ``workloads`` in that order.
    """

    opts: OptionSet
    workloads: tuple[str, ...]
    #: demand [requests/hour]
    requests: np.ndarray
    #: prompt and completion tokens of that demand [tokens/hour]
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    #: committed GPUs per pool key, one count per hour ``(H,)``
    existing_gpus: Mapping[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_hours(self) -> int:
        return int(self.requests.shape[0])

    @property
    def existing_names(self) -> list[str]:
        """The pool keys with committed GPUs, sorted (the columns of ``existing_matrix``)."""
        return sorted(self.existing_gpus)

    def existing_matrix(self) -> np.ndarray | None:
        """Committed GPUs ``(H, len(existing_names))``, or None where there are none."""
        names = self.existing_names
        if not names:
            return None
        return np.stack([np.asarray(self.existing_gpus[g]) for g in names], axis=1)
