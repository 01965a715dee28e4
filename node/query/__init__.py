"""Real-time multi-lender query: two-server PIR over a secret-shared table of per-applicant
aggregates (see node/query/README.md for the protocol, its trust assumption and leakage)."""
