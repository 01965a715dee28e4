"""`alliance demo --scenario credit`: joint credit modelling as a chain of approved jobs.

A bank (labels) and a telecom (features) about partly the same people; the platform deals the
correlated randomness. PSI aligns the rows -> binning gives WOE/IV -> secure logistic regression on
the WOE features -> joint prediction with its evaluation (AUC, KS; ROC, KS and lift charts in
the terminal unless --no-plot, and as PNG files) -> scorecard; beside the logistic model,
vertical gradient-boosted trees on the same bins (gbdt_train, gbdt_predict), both evaluated on the
same held-out rows (AUC, KS side by side). Each job names the one before it
(alignment_job, bins_job, model_job); the contract and every node check those links, and a job
whose alignment left out a party is refused. Every secure figure is checked against the same
computation in the clear (numpy), which the demo can do because it holds every member's data.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

import numpy as np

from alliance.cli.demo.flow import AUDITOR, MEMBERS, DemoFlow

BINS = 5
HELD_OUT = "0.25"
"""Both models hold out the same rows (one public split, `seed` 3), used for early stopping only,
and are compared on them."""
TRAIN = {"epochs": "5", "batch_size": "128", "learning_rate": "0.5",
         "validation_fraction": HELD_OUT, "seed": "3"}
BOOST = {"n_trees": "30", "max_depth": "3", "learning_rate": "0.3", "reg_lambda": "1",
         "validation_fraction": HELD_OUT, "patience": "30", "seed": "3"}
AGREE = 1e-9
"""IV and WOE: the secure counts are exact, so the clear figures agree to rounding."""
MODEL_AGREE = 1e-4
"""Coefficients: fixed-point secure SGD against the same SGD in float64."""
WAIT = 90.0


class CreditFlow(DemoFlow):
    """The credit scenario's steps (the alliance, nodes and teardown are DemoFlow's)."""

    def actions(self) -> tuple[Callable[[], None], ...]:
        return (self.create, self.start, self.charter, self.register_datasets, self.alignment,
                self.unaligned_refused, self.binning, self.train, self.predict, self.scorecard,
                self.boost, self.boost_predict)

    # ---- steps ---------------------------------------------------------------------------------

    def create(self) -> None:
        from alliance.cli.demo.credit_data import write_credit
        from alliance.network_init import init_network

        init_network(self.net_dir, members=list(MEMBERS), auditors=[AUDITOR],
                     passphrase=self.passphrase)
        self.credit = write_credit(self.net_dir / "demo-data", self.seed)
        self.out_dir = self.net_dir / "credit-report"
        self.out_dir.mkdir(parents=True, exist_ok=True)
        bank, telecom = self.credit["bank"], self.credit["telecom"]
        self._step("create", "Alliance created", True,
                   f"MSPs for {', '.join(MEMBERS)} + {AUDITOR}; synthetic credit data: bank "
                   f"{len(bank.ids)} loans (label bad, {', '.join(list(bank.columns)[1:])}), "
                   f"telecom {len(telecom.ids)} subscribers ({', '.join(telecom.columns)})")

    def register_datasets(self) -> None:
        from alliance.app.datasets import register_dataset

        done = []
        for org, table in self.credit.items():
            self._on_begin(f"fingerprinting {table.path.name} of {org}")
            dataset = register_dataset(self.session(org), table.name, file=table.path,
                                       description=f"credit demo {table.name}",
                                       tags=["demo"]).dataset
            done.append(f"{dataset.id} ({dataset.row_count} rows)")
        self._step("datasets", "Datasets registered", len(done) == 2, "; ".join(done))

    def _ref(self, org: str, column: str) -> str:
        return f"{org}/{self.credit[org].name}:{column}"

    def _features(self, org: str) -> list[str]:
        return [self._ref(org, c) for c in self.credit[org].columns if c != "bad"]

    def _job(self, org: str, protocol: str, inputs: list[str], params: dict[str, str],
             outputs: dict[str, list[str]], dealer: str | None = None) -> dict[str, Any]:
        """Request, approve by every approver, wait: the job as it ended."""
        from alliance.app import jobs

        request = jobs.build_request(protocol, inputs, params, outputs, expires_in_seconds=900,
                                     dealer=dealer)
        job = jobs.request_job(self.session(org), request).model_dump(mode="json")
        for approver in job["required_approvers"]:
            job = jobs.approve_job(self.session(approver), job["id"]).model_dump(mode="json")
        return self.wait_for(job["id"], timeout=WAIT)

    def _ended_ok(self, key: str, title: str, job: dict[str, Any]) -> int:
        if job["state"] != "COMPLETED":
            self._step(key, title, False, f"{job['id']} {job['state']}: "
                       f"{job['failures'] or job['results']}")
        return int(job["current_run"])

    def _receipts(self, job: dict[str, Any]) -> str:
        receipts = job["receipts"].get(str(job["current_run"]), {})
        return f"receipts from {', '.join(sorted(receipts))}"

    def _psi(self, to: list[str]) -> dict[str, Any]:
        return self._job("bank", "psi", [self._ref("bank", "customer_id"),
                                         self._ref("telecom", "customer_id")],
                         {"normalize": "trim,nfc"}, {"intersection": to})

    def alignment(self) -> None:
        job = self._psi(["bank", "telecom"])
        run = self._ended_ok("alignment", "PSI alignment", job)
        text = self.delivered("telecom", job["id"], run, "intersection").decode()
        secure = [row[0] for row in csv.reader(io.StringIO(text, newline=""))][1:]  # header id
        clear = sorted(set(self.credit["bank"].ids) & set(self.credit["telecom"].ids))
        self.aligned = job["id"]
        self.clear_ids = clear
        self.summary["alignment"] = {"job": job["id"], "secure": len(secure),
                                     "clear": len(clear)}
        self._step("alignment", "PSI alignment (bank ∩ telecom)", secure == clear,
                   f"{job['id']}: {len(secure)} shared customers, intersection to bank and "
                   f"telecom = {len(clear)} in the clear; {self._receipts(job)}", job_id=job["id"])

    def _ids(self) -> str:
        return f"{self._ref('bank', 'customer_id')},{self._ref('telecom', 'customer_id')}"

    def _data_inputs(self) -> list[str]:
        return [self._ref("bank", "customer_id"), self._ref("bank", "bad"),
                *self._features("bank"), self._ref("telecom", "customer_id"),
                *self._features("telecom")]

    def unaligned_refused(self) -> None:
        """A PSI whose intersection went to the bank alone cannot align a job with the telecom."""
        from alliance.app import jobs
        from alliance.app.errors import AppError

        job = self._psi(["bank"])
        self._ended_ok("unaligned", "Alignment that left out a party is refused", job)
        request = jobs.build_request(
            "binning", self._data_inputs(),
            {"label": self._ref("bank", "bad"), "ids": self._ids(), "alignment_job": job["id"]},
            {"bins.bank": ["bank"], "bins.telecom": ["telecom"], "iv": ["bank"]},
            expires_in_seconds=900, dealer="platform")
        try:
            jobs.request_job(self.session("bank"), request)
        except AppError as exc:
            refused = str(exc)
        else:
            refused = ""
        self._step("unaligned", "Alignment that left out a party is refused",
                   "did not go to telecom" in refused,
                   f"binning aligned by {job['id']} (intersection to bank only): "
                   f"{refused or 'accepted?!'}")

    # ---- the clear side ------------------------------------------------------------------------

    def _clear(self, org: str) -> dict[str, np.ndarray]:
        """org's columns in the intersection's order (the demo holds every member's data)."""
        table = self.credit[org]
        where = {pid: k for k, pid in enumerate(table.ids)}
        rows = np.array([where[pid] for pid in self.clear_ids])
        return {self._ref(org, c): np.asarray(v)[rows] for c, v in table.columns.items()}

    def binning(self) -> None:
        from node.mpc.modelling import binning as clear_binning
        from node.mpc.modelling.tables import decode_tables

        params = {"label": self._ref("bank", "bad"), "ids": self._ids(),
                  "alignment_job": self.aligned, "method": "quantile", "bins": str(BINS)}
        job = self._job("bank", "binning", self._data_inputs(), params,
                        {"bins.bank": ["bank"], "bins.telecom": ["telecom"],
                         "iv": ["bank", "telecom"]}, dealer="platform")
        run = self._ended_ok("binning", "Binning and WOE/IV", job)
        iv = {k: float(v) for k, v in
              json.loads(self.delivered("bank", job["id"], run, "iv"))["iv"].items()}
        y = self._clear("bank")[self._ref("bank", "bad")]
        self.tables: dict[str, Any] = {}
        worst = 0.0
        for org in ("bank", "telecom"):
            tables = decode_tables(self.delivered(org, job["id"], run, f"bins.{org}"))
            self.tables.update(tables)
            clear = self._clear(org)
            for feature, table in tables.items():
                index = table.bin_of(clear[feature])
                counts = np.bincount(index, minlength=len(table.counts))
                events = np.bincount(index, weights=y, minlength=len(table.counts))
                stats = clear_binning.woe_iv(events.astype(np.int64), counts)
                worst = max(worst, abs(stats.iv - iv[feature]),
                            float(np.abs(stats.woe - table.stats().woe).max()))
        (self.out_dir / "iv.json").write_text(json.dumps(iv, indent=2) + "\n")
        self.bins_job = job["id"]
        self.summary["binning"] = {"job": job["id"], "iv": iv, "max_gap": worst}
        ranked = ", ".join(f"{k.split(':')[1]} {v:.3f}"
                           for k, v in sorted(iv.items(), key=lambda kv: -kv[1]))
        self._step("binning", f"Binning and WOE/IV ({BINS} quantile bins)", worst <= AGREE,
                   f"{job['id']}: IV {ranked}; largest gap to the clear WOE/IV {worst:.1e}; "
                   f"{self._receipts(job)}", job_id=job["id"])

    def _woe(self) -> tuple[np.ndarray, list[str]]:
        """The clear WOE feature matrix in the model's order (bank's features, then telecom's)."""
        cols, names = [], []
        for org in ("bank", "telecom"):
            clear = self._clear(org)
            for ref in self._features(org):
                cols.append(self.tables[ref].stats().woe[self.tables[ref].bin_of(clear[ref])])
                names.append(f"{ref}:woe")
        return np.column_stack(cols), names

    def train(self) -> None:
        from node.mpc.modelling import logistic
        from node.mpc.modelling.logistic import ModelPart
        from node.mpc.modelling.params import LrTrainParams

        params = {"label": self._ref("bank", "bad"), "ids": self._ids(),
                  "alignment_job": self.aligned, "bins_job": self.bins_job, **TRAIN}
        job = self._job("bank", "lr_train", self._data_inputs(), params,
                        {"model.bank": ["bank"], "model.telecom": ["telecom"]},
                        dealer="platform")
        run = self._ended_ok("train", "Secure logistic regression", job)
        parts = {org: ModelPart.from_bytes(self.delivered(org, job["id"], run, f"model.{org}"))
                 for org in ("bank", "telecom")}
        x, names = self._woe()
        y = self._clear("bank")[self._ref("bank", "bad")]
        w, b0, _ = logistic.reference_sgd(x, y, LrTrainParams(**params))
        secure_w = np.r_[parts["bank"].coefficients, parts["telecom"].coefficients]
        gap = max(float(np.abs(secure_w - w).max()),
                  abs(float(parts["bank"].intercept or 0.0) - b0))
        self.parts, self.model_job = parts, job["id"]
        self.summary["train"] = {"job": job["id"], "max_gap": gap,
                                 "features": parts["bank"].features + parts["telecom"].features}
        ok = (parts["bank"].features + parts["telecom"].features == names
              and parts["telecom"].intercept is None and gap <= MODEL_AGREE)
        self._step("train", "Secure logistic regression (WOE features)", ok,
                   f"{job['id']}: {len(names)} coefficients split between bank (with the "
                   f"intercept) and telecom; largest gap to the same SGD in the clear "
                   f"{gap:.1e}; {self._receipts(job)}", job_id=job["id"])

    def predict(self) -> None:
        from alliance.app.terminal_plots import curves_of
        from node.mpc.modelling import evaluation

        params = {"label": self._ref("bank", "bad"), "holder": "bank", "ids": self._ids(),
                  "alignment_job": self.aligned, "model_job": self.model_job,
                  "bins_job": self.bins_job}
        job = self._job("bank", "lr_predict", self._data_inputs(), params,
                        {"scores": ["bank"], "evaluation": ["bank"]})
        run = self._ended_ok("predict", "Joint prediction and evaluation", job)
        delivered = self.delivered("bank", job["id"], run, "evaluation")
        report = evaluation.Report.from_bytes(delivered)
        x, _ = self._woe()
        y = self._clear("bank")[self._ref("bank", "bad")]
        w = np.r_[self.parts["bank"].coefficients, self.parts["telecom"].coefficients]
        p = 1 / (1 + np.exp(-(x @ w + float(self.parts["bank"].intercept or 0.0))))
        clear_auc, clear_ks = evaluation.auc(y, p), evaluation.ks(y, p)
        gap = max(abs(report.auc - clear_auc), abs(report.ks - clear_ks))
        plots = self._plots(report)
        self.summary["predict"] = {"job": job["id"], "auc": report.auc, "ks": report.ks,
                                   "clear_auc": clear_auc, "clear_ks": clear_ks, "plots": plots}
        self._step("predict", "Joint prediction: AUC and KS", gap <= 1e-3,
                   f"{job['id']}: AUC {report.auc:.4f} (clear {clear_auc:.4f}), KS "
                   f"{report.ks:.4f} (clear {clear_ks:.4f}) at bank alone; "
                   + (f"plots: {', '.join(plots)}" if plots else
                      "PNG plots skipped (install matplotlib)"), job_id=job["id"],
                   curves=curves_of(json.loads(delivered)))

    def _plots(self, report: Any) -> list[str]:
        from node.mpc.modelling import evaluation

        try:
            images = evaluation.plots(report)
        except ImportError:
            return []
        written = []
        for name, data in images.items():
            (self.out_dir / name).write_bytes(data)
            written.append(str(self.out_dir / name))
        return written

    def scorecard(self) -> None:
        from alliance.app import results
        from node.mpc.modelling.params import ScorecardParams
        from node.mpc.modelling.scorecard import scaling

        params = {"model_job": self.model_job, "bins_job": self.bins_job}
        job = self._job("bank", "scorecard", self._features("bank") + self._features("telecom"),
                        params, {"scorecard.bank": ["bank"], "scorecard.telecom": ["telecom"]})
        run = self._ended_ok("scorecard", "Scorecard", job)
        cards = {org: json.loads(self.delivered(org, job["id"], run, f"scorecard.{org}"))
                 for org in ("bank", "telecom")}
        total = np.full(len(self.clear_ids), float(cards["bank"]["base_points"]))
        csv_ok = True
        for org in ("bank", "telecom"):
            clear = self._clear(org)
            points = {(r["feature"], r["bin"]): float(r["points"]) for r in cards[org]["bins"]}
            for ref in self._features(org):
                table = self.tables[ref]
                labels = np.array(table.labels)[table.bin_of(clear[ref])]
                total += np.array([points[(ref, lab)] for lab in labels])
            written = results.job_result(self.session(org), job["id"],
                                         output=f"scorecard.{org}",
                                         to=self.out_dir / f"scorecard-{org}.csv")
            csv_ok = csv_ok and written.rows == len(cards[org]["bins"])
        x, _ = self._woe()
        w = np.r_[self.parts["bank"].coefficients, self.parts["telecom"].coefficients]
        a, b = scaling(ScorecardParams())
        clear = a - b * (x @ w + float(self.parts["bank"].intercept or 0.0))
        gap = float(np.abs(total - clear).max())
        self.summary["scorecard"] = {"job": job["id"], "max_gap": gap,
                                     "csv": [str(self.out_dir / f"scorecard-{o}.csv")
                                             for o in ("bank", "telecom")]}
        self._step("scorecard", "Scorecard (points per bin, each party its own)",
                   gap <= 1e-6 and csv_ok,
                   f"{job['id']}: bank {len(cards['bank']['bins'])} bins + base points "
                   f"{float(cards['bank']['base_points']):.1f}, telecom "
                   f"{len(cards['telecom']['bins'])} bins; row scores = "
                   f"{a:.1f} - {b:.1f}·log-odds in the clear (gap {gap:.1e}); CSV in "
                   f"{self.out_dir}", job_id=job["id"])

    # ---- boosted trees beside the logistic model -------------------------------------------------

    def _bins(self) -> list[tuple[str, np.ndarray]]:
        """Each party's (features, rows) bins under the binning job's tables, in the clear."""
        from node.mpc.modelling.gbdt.binned import from_table

        out = []
        for org in ("bank", "telecom"):
            clear = self._clear(org)
            out.append((org, np.stack([from_table(self.tables[ref]).bin_of(clear[ref])
                                       for ref in self._features(org)])))
        return out

    def boost(self) -> None:
        from node.mpc.modelling.gbdt import model, reference
        from node.mpc.modelling.gbdt.params import GbdtTrainParams

        params = {"label": self._ref("bank", "bad"), "ids": self._ids(),
                  "alignment_job": self.aligned, "bins_job": self.bins_job, **BOOST}
        job = self._job("bank", "gbdt_train", self._data_inputs(), params,
                        {"model.bank": ["bank"], "model.telecom": ["telecom"]})
        run = self._ended_ok("boost", "Secure gradient-boosted trees", job)
        active = model.ActivePart.from_bytes(self.delivered("bank", job["id"], run,
                                                            "model.bank"))
        telecom = model.PassivePart.from_bytes(self.delivered("telecom", job["id"], run,
                                                              "model.telecom"))
        y = self._clear("bank")[self._ref("bank", "bad")]
        self.boosted = reference.fit(self._bins(), y, GbdtTrainParams(**params))
        trees = model.joined(active, [telecom])
        same = [t.splits for t in trees] == [t.splits for t in self.boosted.trees]
        gap = max((abs(t.leaves[n] - c.leaves.get(n, np.inf)) for t, c in
                   zip(trees, self.boosted.trees, strict=True) for n in t.leaves), default=0.0)
        self.boost_job = job["id"]
        owned = sum(s.owner == "telecom" for t in trees for s in t.splits.values())
        splits = sum(len(t.splits) for t in trees)
        self.summary["boost"] = {"job": job["id"], "trees": len(trees), "same_trees": same,
                                 "max_gap": gap}
        self._step("boost", "Secure gradient-boosted trees (the same bins)",
                   same and gap <= 1e-9,
                   f"{job['id']}: {len(trees)} trees of depth <= {BOOST['max_depth']}, "
                   f"{splits} splits ({owned} on telecom features, thresholds at telecom "
                   f"alone); the same trees as in the clear (leaf gap {gap:.1e}); "
                   f"{self._receipts(job)}", job_id=job["id"])

    def boost_predict(self) -> None:
        from node.mpc.modelling import evaluation, logistic

        params = {"label": self._ref("bank", "bad"), "holder": "bank", "ids": self._ids(),
                  "alignment_job": self.aligned, "model_job": self.boost_job}
        job = self._job("bank", "gbdt_predict", self._data_inputs(), params,
                        {"scores": ["bank"], "evaluation": ["bank"]})
        run = self._ended_ok("boost_eval", "Boosted vs logistic on held-out rows", job)
        boosted = np.load(io.BytesIO(self.delivered("bank", job["id"], run, "scores")))
        lr_job = self.summary["predict"]["job"]
        linear = np.load(io.BytesIO(self.delivered("bank", lr_job, 1, "scores")))
        gap = float(np.abs(boosted - self.boosted.scores(dict(self._bins()))).max())
        y = self._clear("bank")[self._ref("bank", "bad")]
        _, held = logistic.split_rows(len(y), float(HELD_OUT), int(TRAIN["seed"]))
        side = {name: {"auc": evaluation.auc(y[held], p[held]),
                       "ks": evaluation.ks(y[held], p[held])}
                for name, p in (("logistic", linear), ("boosted", boosted))}
        self.summary["boost_eval"] = {"job": job["id"], "held_out": len(held),
                                      "max_gap": gap, **side}
        self._step("boost_eval", f"Boosted vs logistic on the same {len(held)} held-out rows",
                   gap <= 1e-9,
                   f"{job['id']}: AUC boosted {side['boosted']['auc']:.4f} | logistic "
                   f"{side['logistic']['auc']:.4f}; KS boosted {side['boosted']['ks']:.4f} | "
                   f"logistic {side['logistic']['ks']:.4f} (scores at bank alone, equal to the "
                   f"clear model's to {gap:.1e})", job_id=job["id"])
