-- Why: every consent wrote a leaf of each per-company index, in the middle of the tree, and those
-- two indexes were about two thirds of the WAL pages a batch of consents wrote (one leaf per
-- company in the batch, each, and the page splits around them). A company's consents are found
-- through its connections instead (`connections_company`, then `consents_connection`): a
-- consent always belongs to its connection's company (the store refuses a write where they
-- disagree). `webhook_events_tenant` repeated the index of the table's `unique (tenant_id, id)`.
drop index consents_company;
drop index webhook_events_tenant;
