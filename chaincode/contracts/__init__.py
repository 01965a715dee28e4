"""The governance contract's transaction functions, by name, and the router that serves them."""

from __future__ import annotations

from chaincode.contracts import authorities, datasets, jobs, membership
from chaincode.router import Router, TransactionFunction

TRANSACTIONS: dict[str, TransactionFunction] = {
    "InitCharter": membership.init_charter,
    "AcceptCharter": membership.accept_charter,
    "ProposeMember": membership.propose_member,
    "VoteProposal": membership.vote_proposal,
    "ExpireProposal": membership.expire_proposal,
    "RevokeCertificate": membership.revoke_certificate,
    "RenewCertificateAuthority": authorities.renew_certificate_authority,
    "EndCaOverlap": authorities.end_ca_overlap,
    "RegisterDataset": datasets.register_dataset,
    "NewDatasetVersion": datasets.new_dataset_version,
    "RetireDataset": datasets.retire_dataset,
    "RequestJob": jobs.request_job,
    "ApproveJob": jobs.approve_job,
    "RejectJob": jobs.reject_job,
    "VoteJob": jobs.vote_job,
    "RevokeJob": jobs.revoke_job,
    "ExpireJob": jobs.expire_job,
    "ClaimJob": jobs.claim_job,
    "SubmitReceipt": jobs.submit_receipt,
    "FailJob": jobs.fail_job,
    "ExpireRun": jobs.expire_run,
}
"""Functions that change the ledger: submit them (endorse, order, commit)."""

QUERIES: dict[str, TransactionFunction] = {
    "GetCharter": membership.get_charter,
    "CharterHistory": membership.charter_history,
    "ListMembers": membership.list_members,
    "GetProposal": membership.get_proposal,
    "ListProposals": membership.list_proposals,
    "ListRevokedCertificates": membership.list_revoked_certificates,
    "ListCertificateAuthorities": authorities.list_certificate_authorities,
    "GetDataset": datasets.get_dataset,
    "ListDatasets": datasets.list_datasets,
    "DatasetHistory": datasets.dataset_history,
    "GetJob": jobs.get_job,
    "ListJobs": jobs.list_jobs,
    "JobHistory": jobs.job_history,
}
"""Read-only functions: evaluate them; they never write."""


def default_router() -> Router:
    """A router serving every function of the governance contract."""
    router = Router()
    for name, function in TRANSACTIONS.items():
        router.register(name, function)
    for name, function in QUERIES.items():
        router.register(name, function, query=True)
    return router
