"""Load shapes of a festival, selected with ``--livehub-shape`` (``LIVEHUB_LOCUST_SHAPE``).

Sizes scale with ``-u`` (the peak number of users) and time with ``-t`` where given:

* ``constant``: ``-u`` users at ``-r`` per second until ``-t`` (locust's own behaviour);
* ``join-storm``: the main venue goes live: 10 % of ``-u`` watching, then the other 90 % join
  within 5 s (viewers only), then hold;
* ``flash-sale``: a steady audience of 60 % of ``-u``, then 40 % more buyers arriving within
  3 s around the first sale's opening (``--livehub-sale-lead-s`` after the host's first
  sale), held, then back to the audience;
* ``steady``: ``-u`` users reached gently (over 20 % of the run) and held: an evening of watching;
* ``festival``: a join storm, steady watching, a flash-sale spike, steady watching.

Each stage is ``(until_s, users, spawn_rate, user classes or None for the weighted mix)``.
"""

from __future__ import annotations

from typing import Any

from locust import LoadTestShape

from loadtests.crowd.options import of

Stage = tuple[float, int, float, list[Any] | None]


def stages(shape: str, users: int, rate: float, run_s: float, lead_s: float) -> list[Stage]:
    """The stages of a shape (pure: tested without locust running)."""
    from loadtests.crowd.users import Buyer, Host, Viewer

    u = max(1, users)
    end = run_s if run_s > 0 else float("inf")
    if shape == "join-storm":
        early = max(1, u // 10)
        return [(10, early, max(1.0, early / 5), [Host, Viewer]), (end, u, max(1.0, (u - early) / 5), [Host, Viewer])]
    if shape == "flash-sale":
        audience = max(1, u * 6 // 10)
        spike_at = 5 + lead_s
        return [(spike_at - 2, audience, max(1.0, audience / 5), None),
                (spike_at + 25, u, max(1.0, (u - audience) / 3), None),
                (end, audience, max(1.0, (u - audience) / 3), None)]  # fmt: skip
    if shape == "steady":
        ramp = (run_s if run_s > 0 else 300) * 0.2
        return [(end, u, max(0.5, u / max(1.0, ramp)), None)]
    if shape == "festival":
        third = (run_s if run_s > 0 else 300) / 3
        audience = max(1, u * 6 // 10)
        return [(10, max(1, u // 10), max(1.0, u / 50), [Host, Viewer]),
                (third, audience, max(1.0, audience / 5), [Host, Viewer]),
                (2 * third, u, max(1.0, (u - audience) / 3), [Host, Viewer, Buyer]),
                (end, audience, max(1.0, (u - audience) / 3), None)]  # fmt: skip
    return [(end, u, rate, None)]


class FestivalShape(LoadTestShape):
    """The selected shape; ``-u``/``-r``/``-t`` feed it (use_common_options)."""

    use_common_options = True

    def tick(self) -> tuple[int, float] | tuple[int, float, list[Any] | None] | None:
        assert self.runner is not None
        options = self.runner.environment.parsed_options
        opts = of(options)
        users = int(getattr(options, "num_users", None) or 1)
        rate = float(getattr(options, "spawn_rate", None) or 1)
        run_s = float(getattr(options, "run_time", None) or 0)
        now = self.get_run_time()
        for until, count, spawn, classes in stages(opts.shape, users, rate, run_s, opts.sale_lead_s):
            if now < until:
                return (count, spawn) if classes is None else (count, spawn, classes)
        return None
