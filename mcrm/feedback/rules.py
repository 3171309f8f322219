"""Pure rules of the feedback desk: status moves, response targets, satisfaction answers, medians."""
from datetime import timedelta

from mcrm.core.text import fold

#: status → the statuses it may move to: forward, skipping allowed (praise may go straight to
#: closed), and a resolved ticket may be reopened; closed is final
MOVES = {
    "new": ("in_progress", "resolved", "closed"),
    "in_progress": ("resolved", "closed"),
    "resolved": ("in_progress", "closed"),
    "closed": (),
}

#: what a member may answer the satisfaction SMS with → the score
SATISFACTION_ANSWERS = {"1": 1, "满意": 1, "2": 2, "一般": 2, "3": 3, "不满意": 3}


def can_move(status: str, to: str) -> bool:
    return to in MOVES.get(status, ())


def target_minutes(targets: dict[tuple[str, str], int | None], kind: str, tier: str | None) -> int | None:
    """Minutes to the first reply for a ticket of ``kind`` from a member of ``tier``: the tier's own
    target for the kind when there is one, else the kind's (``targets`` is keyed (kind, tier), with
    tier "" for everyone). None: no target."""
    if tier and (kind, tier) in targets:
        return targets[(kind, tier)]
    return targets.get((kind, ""))


def parse_satisfaction(text: str | None) -> int | None:
    """``1``, ``１``, ``1满意`` or ``满意`` → 1; anything else → None."""
    folded = fold(text or "").strip().rstrip("。.!！")
    if folded in SATISFACTION_ANSWERS:
        return SATISFACTION_ANSWERS[folded]
    if folded[:1] in ("1", "2", "3") and SATISFACTION_ANSWERS.get(folded[1:]) == int(folded[0]):
        return int(folded[0])
    return None


def median(values: list[timedelta]) -> timedelta | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2
