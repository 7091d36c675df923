-- Why: every consent write paid for an entry in `consents_company`, a per-company index whose
-- leaves a batch of consents writes all over the tree (measured on SQLite, where the same index
-- went in its migration 0016: the per-company indexes were two thirds of the pages a batch
-- wrote). A company's consents are found through its connections instead (`connections_company`,
-- then `consents_connection`): a consent always belongs to its connection's company (the store
-- refuses a write where they disagree). Companies are never deleted outright nor re-keyed, so
-- the foreign key from consents to companies never needs to look consents up by company.
-- Rolling upgrades: instances still on the previous version read a company's consents without
-- this index (a slower scan of the tenant's consents) until they are replaced.
drop index consents_company;
