"""Shared helpers of the gbdt tests: train over the in-memory transport with the real secure
selection, read the model parts back, and grow the same model in the clear (the reference)."""

from __future__ import annotations

import numpy as np

from node.mpc.modelling import preprocessing
from node.mpc.modelling.gbdt import binned, reference
from node.mpc.modelling.gbdt.model import ActivePart, PassivePart, Tree, joined
from node.mpc.modelling.gbdt.params import GbdtTrainParams
from node.mpc.modelling.gbdt.train_protocol import GbdtTrainProtocol
from node.mpc.protocol import LocalInputs
from tests.unit.modelling_helpers import LABEL, job_for, run_all


def features_of(local: LocalInputs) -> dict[str, np.ndarray]:
    return {k: v for k, v in local.items() if k != LABEL and ":" in k
            and not k.startswith(("alignment:", "model", "woe_bins"))}


def party_bins(inputs: dict[str, LocalInputs], params: GbdtTrainParams
               ) -> list[tuple[str, np.ndarray]]:
    """Each party's (features, rows) bins as the protocol makes them, label holder first."""
    holder = params.label.split("/", 1)[0]
    order = [holder, *sorted(p for p in inputs if p != holder)]
    out = []
    for org in order:
        cols = features_of(inputs[org])
        rows = len(next(iter(cols.values())))
        _, bins_t = binned.bin_columns(cols, preprocessing.parse_recipe(""), None,
                                       params.max_bin, rows)
        out.append((org, bins_t))
    return out


def clear_fit(inputs: dict[str, LocalInputs], params: dict[str, str]) -> reference.Fit:
    parsed = GbdtTrainParams(label=LABEL, **params)
    return reference.fit(party_bins(inputs, parsed), inputs["bank"][LABEL], parsed)


async def secure_fit(inputs: dict[str, LocalInputs], params: dict[str, str],
                     job_id: str = "job-m") -> dict:
    outputs = {f"model.{p}": (p,) for p in inputs}
    job = job_for("gbdt_train", inputs, {"label": LABEL, **params}, outputs, dealer=None,
                  job_id=job_id)
    return await run_all(GbdtTrainProtocol(), job, inputs, step_timeout=120)


def joined_trees(results: dict) -> list[Tree]:
    """The label holder's trees with each passive split's feature and bin filled in from its
    owner's part (as the reference holds them)."""
    active = ActivePart.from_bytes(results["bank"].outputs["model.bank"])
    return joined(active, [PassivePart.from_bytes(r.outputs[f"model.{p}"])
                           for p, r in results.items() if p != "bank"])
