-- Why: token refresh. A linked connection's access token is refreshed before it expires by a
-- `refresh_token` job, and the next one is queued by the refresh that succeeds. The platforms
-- rotate refresh tokens and revoke the whole grant when a spent one is presented again, so two
-- refreshes of one connection must never run side by side: the job names its connection in a
-- column (the payload stays free of tokens), and at most one refresh per connection is pending.
-- A link ends the pending one before queueing its own; disconnect and deauthorization end it.
-- Every writer locks the connection's row before touching its jobs, so they queue, never race.
alter table jobs add column connection_id uuid;

create unique index jobs_one_pending_refresh on jobs (connection_id)
    where kind = 'refresh_token' and done_at is null;
