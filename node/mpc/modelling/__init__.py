"""Joint credit modelling on vertically split data: alignment by PSI, local preprocessing,
binning with WOE/IV, secure logistic regression, joint prediction, evaluation and scorecards.

Each job protocol states its security model and who learns what in its module docstring. The
maths is numpy in pure modules (binning, crossprod, logistic, evaluation, scorecard); the
protocol modules do the messaging.
"""

from node.mpc.modelling.binning_protocol import BinningProtocol
from node.mpc.modelling.lr_predict import LrPredictProtocol
from node.mpc.modelling.lr_train import LrTrainProtocol
from node.mpc.modelling.scorecard import ScorecardProtocol

__all__ = ["BinningProtocol", "LrPredictProtocol", "LrTrainProtocol", "ScorecardProtocol"]
