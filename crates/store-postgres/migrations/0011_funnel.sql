-- Funnel analytics (issue 4, item 6): how many customers reached each step of the hosted flow,
-- per tenant and UTC hour, with no personal data: no IP, no user agent, no session or company.
-- Each page handler adds one with an upsert increment.
create table funnel_counts (
    tenant_id uuid not null references tenants (id),
    -- the start of the UTC hour
    bucket timestamptz not null,
    -- landing_viewed, platform_selected, consent_viewed, consented, declined, sent_to_platform,
    -- callback_succeeded, callback_failed, connected or exited
    step text not null,
    -- the platform the step concerns; '' when none (landing, exits)
    platform_key text not null default '',
    -- for `exited`: the page left from; '' otherwise
    exited_at text not null default '',
    count bigint not null check (count > 0),
    primary key (tenant_id, bucket, step, platform_key, exited_at)
);

-- The steps a browser session already counted, so that a reload does not count twice. This
-- is the session's own state (it goes when the session row goes), not analytics: the counts
-- above never say which session they came from.
create table funnel_marks (
    session_id uuid not null references browser_sessions (id) on delete cascade,
    -- step:platform:page
    mark text not null,
    primary key (session_id, mark)
);
