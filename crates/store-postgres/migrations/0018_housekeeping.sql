-- Housekeeping (`Store::purge_expired`): jobs that ended are deleted after a retention period,
-- found through this index of their end time (the due-jobs index covers only the pending ones).
-- Expired OAuth flows are found by a scan of `oauth_flows`, which holds only the flows of the
-- last few minutes once they are purged: no index on the consent's hot path for them.
create index jobs_done on jobs (done_at) where done_at is not null;
