"""The thresholds behind validation's warnings, which are the `[validate]` section's keys too.

Apart from `kellyd.validate` so that the configuration can use them without importing the checks.
Errors never depend on a threshold: a dataset that cannot train is refused whatever these say.
"""

from __future__ import annotations

from dataclasses import dataclass

from kellyd.errors import ConfigError

_SHARES = ("min_balance_ratio", "min_entropy", "max_split_share_error", "storage_warn_share", "max_class_share_drift")
_COUNTS = {"min_samples_for_ratio_check": 0, "max_listed": 1, "min_split_for_balance": 0}


@dataclass(frozen=True)
class Limits:
    """Thresholds behind the warnings.

    min_balance_ratio: smallest / largest class count below which the classes are imbalanced.
    min_entropy: normalised entropy of keys, modes or tempo bins below which diversity is low.
    max_split_share_error: how far (as a share) a split may drift from its ratio.
    min_samples_for_ratio_check: below this many originals, split shares are not judged.
    storage_warn_share: share of the storage budget that earns a note.
    max_listed: how many affected samples a reason lists (the count is always complete).
    max_class_share_drift: how far a class's share in one split may sit from its share over all
        splits (absolute: 0.10 lets 16 % overall be 6-26 % in val); in a small split the allowance
        widens to three binomial standard deviations, so chance alone is not flagged.
    min_split_for_balance: splits with fewer originals than this are not judged for class shares.

    A value out of range raises ConfigError naming the field (the configuration puts `validate.` before it).
    """

    min_balance_ratio: float = 0.5
    min_entropy: float = 0.5
    max_split_share_error: float = 0.05
    min_samples_for_ratio_check: int = 40
    storage_warn_share: float = 0.9
    max_listed: int = 100
    max_class_share_drift: float = 0.10
    min_split_for_balance: int = 20

    def __post_init__(self) -> None:
        for name in _SHARES:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ConfigError(name, f"must be a share from 0 to 1, got {value!r}")
        for name, least in _COUNTS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ConfigError(name, f"must be a whole number of at least {least}, got {value!r}")

