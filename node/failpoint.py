"""Test hook: `ALLIANCE_NODE_FAILPOINT=<point>` makes the node process exit at once (as if
killed) when it reaches `<point>`, so fault tests hit an exact moment instead of sleeping. Points:
`started` (the daemon's last step before it reports ready: node/daemon.py), `staged`,
`receipted`, `judged` (node/runner.py), `lr_train.epoch<N>` (a party's start of training epoch
N, N >= 1: node/mpc/modelling/lr_train.py) and `gbdt_train.tree<N>` (a party's start of tree N,
N >= 1: node/mpc/modelling/gbdt/train_protocol.py). Never set in production."""

from __future__ import annotations

import logging
import os

FAILPOINT_ENV = "ALLIANCE_NODE_FAILPOINT"

log = logging.getLogger(__name__)


def failpoint(point: str) -> None:
    if os.environ.get(FAILPOINT_ENV) == point:
        log.warning("failpoint %s: exiting now", point)
        os._exit(137)
