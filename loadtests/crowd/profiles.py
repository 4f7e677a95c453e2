"""Load profiles of a festival, selected with ``--livehub-shape`` (``LIVEHUB_LOCUST_SHAPE``); pure
(no locust import), played by loadtests/crowd/shapes.py.

Sizes scale with ``-u`` (the peak number of users) and time with ``-t`` where given:

* ``constant``: ``-u`` users at ``-r`` per second until ``-t`` (locust's own behaviour);
* ``join-storm``: the main venue goes live: 10 % of ``-u`` watching, then the other 90 % join
  within 5 s (viewers only), then hold;
* ``flash-sale``: a steady audience of 60 % of ``-u`` (the weighted mix), then 40 % more, buyers
  only, arriving within 3 s around the first sale's opening (``--livehub-sale-lead-s`` after
  the host's first sale), held 25 s, then back to the audience;
* ``steady``: ``-u`` users reached gently (over 20 % of the run) and held: an evening of watching;
* ``festival``: a join storm, steady watching, a flash-sale spike, steady watching.

Each stage is ``(until_s, users, spawn_rate, user classes or None for the weighted mix)``; a stage
naming classes spawns and stops only those (locust's ``tick`` with ``user_classes``).
"""

from __future__ import annotations

SHAPES = ("constant", "join-storm", "flash-sale", "steady", "festival")
VIEWERS = ("Host", "Viewer")  # a stage without buyers
BUYERS = ("Buyer",)  # a stage that adds (or removes) buyers only
Stage = tuple[float, int, float, tuple[str, ...] | None]  # until_s, users, spawn rate, user classes (None: all)


def stages(shape: str, users: int, rate: float, run_s: float, lead_s: float) -> list[Stage]:
    """The stages of a shape: until ``until_s`` into the run, ``users`` users spawned at ``rate``."""
    u = max(1, users)
    end = run_s if run_s > 0 else float("inf")
    if shape == "join-storm":
        early = max(1, u // 10)
        return [(10, early, max(1.0, early / 5), VIEWERS), (end, u, max(1.0, (u - early) / 5), VIEWERS)]
    if shape == "flash-sale":
        audience = max(1, u * 6 // 10)
        spike_at = 5 + lead_s
        return [(spike_at - 2, audience, max(1.0, audience / 5), None),
                (spike_at + 25, u, max(1.0, (u - audience) / 3), BUYERS),
                (end, audience, max(1.0, (u - audience) / 3), BUYERS)]  # fmt: skip
    if shape == "steady":
        ramp = (run_s if run_s > 0 else 300) * 0.2
        return [(end, u, max(0.5, u / max(1.0, ramp)), None)]
    if shape == "festival":
        third = (run_s if run_s > 0 else 300) / 3
        audience = max(1, u * 6 // 10)
        return [(10, max(1, u // 10), max(1.0, u / 50), VIEWERS),
                (third, audience, max(1.0, audience / 5), VIEWERS),
                (2 * third, u, max(1.0, (u - audience) / 3), BUYERS),
                (end, audience, max(1.0, (u - audience) / 3), BUYERS)]  # fmt: skip
    if shape != "constant":
        raise ValueError(f"unknown shape {shape!r}: one of {', '.join(SHAPES)}")
    return [(end, u, rate, None)]


def at(plan: list[Stage], now_s: float) -> Stage | None:
    """The stage in force ``now_s`` into the run (None: the plan is over)."""
    return next((stage for stage in plan if now_s < stage[0]), None)
