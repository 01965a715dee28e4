"""Vertical gradient-boosted trees (SecureBoost-class): `gbdt_train` and `gbdt_predict`.

Pure maths in trees.py (histograms, splits, leaf values), binned.py (each party's bins) and
model.py (the split model's parts); reference.py grows the same trees in the clear (the test
oracle); selection.py is the secure per-bin sums primitive; the protocol modules do the
messaging and state their security model and leakage.
"""

from node.mpc.modelling.gbdt.predict_protocol import GbdtPredictProtocol
from node.mpc.modelling.gbdt.train_protocol import GbdtTrainProtocol

__all__ = ["GbdtPredictProtocol", "GbdtTrainProtocol"]
