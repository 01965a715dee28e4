"""The gbdt protocols' parameters: the models of their specs (alliance/protocols/gbdt.py), parsed
the way the contract and the gate parse them (a problem is a ProtocolError here)."""

from __future__ import annotations

from alliance.protocols.gbdt import GbdtPredictParams, GbdtTrainParams
from node.mpc.modelling.params import parse

__all__ = ["GbdtPredictParams", "GbdtTrainParams", "parse"]
