"""Health records and consent: who may read or write which part of a client's record, checked and audited on
every access (server -> records -> storage)."""
