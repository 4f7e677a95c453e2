"""The festival's load shape for locust: one LoadTestShape playing the profile chosen with
``--livehub-shape`` (loadtests/crowd/profiles.py describes each); ``-u``/``-r``/``-t`` feed it."""

from __future__ import annotations

from typing import Any

from locust import LoadTestShape

from loadtests.crowd import profiles
from loadtests.crowd.options import of


class FestivalShape(LoadTestShape):
    use_common_options = True

    def tick(self) -> tuple[int, float] | tuple[int, float, list[Any] | None] | None:
        from loadtests.crowd import users

        assert self.runner is not None
        options = self.runner.environment.parsed_options
        opts = of(options)
        plan = profiles.stages(opts.shape, int(getattr(options, "num_users", None) or 1),
                               float(getattr(options, "spawn_rate", None) or 1),
                               float(getattr(options, "run_time", None) or 0), opts.sale_lead_s)  # fmt: skip
        stage = profiles.at(plan, self.get_run_time())  # type: ignore[no-untyped-call]
        if stage is None:
            return None
        _until, count, rate, names = stage
        if names is None:
            return count, rate
        return count, rate, [getattr(users, name) for name in names]
