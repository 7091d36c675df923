-- Support requests are open until someone in the tenant's console resolves them (and may be
-- reopened); the inbox lists open ones by default, so they get an index of their own.
-- `resolved_by` is the console user's e-mail as the audit trail names people.
alter table support_requests add column resolved_at timestamptz;
alter table support_requests add column resolved_by text;
create index support_requests_open on support_requests (tenant_id, id) where resolved_at is null;
create index support_requests_resolved on support_requests (tenant_id, id)
    where resolved_at is not null;

-- The last RFC 6238 time step (unix time / 30 s) whose code a console user signed in or
-- confirmed with: a code is accepted only for a later step, so one seen over a shoulder or
-- in a proxy log cannot be used again within its window (RFC 6238 §5.2).
alter table console_users add column totp_last_step bigint;
