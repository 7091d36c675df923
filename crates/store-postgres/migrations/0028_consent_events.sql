-- A consent replaced by a newer one on the same connection ends with a `superseded` ledger
-- event, in the transaction that records the newer consent.
--
-- Why here: the consent batch (src/batch.rs) writes a whole group commit in one statement and
-- chains its events from templates made in Rust, because an event's text is the domain's
-- canonical JSON (RFC 8785), which SQL cannot reproduce byte for byte. The batch cannot make
-- the `superseded` events of the consents it would end, so it refuses to end any: its
-- supersede step calls this function with the number of consents it ended, and a non-zero
-- number raises (SQLSTATE ACSUP), which rolls the whole statement back. The writer then
-- replays that batch request by request (src/writer.rs), each request first ending the
-- consents in force on its connection and appending their `superseded` events
-- (src/consents.rs), then running the batch statement for itself, which finds nothing left
-- to supersede. The common batch, new connections only, never ends a consent and is unchanged.

create function accord_consent_batch_supersedes_nothing(superseded bigint) returns boolean
language plpgsql volatile as $$
begin
    if superseded > 0 then
        raise exception 'the consent batch would supersede % consent(s) without their events',
            superseded
            using errcode = 'ACSUP';
    end if;
    return true;
end $$;
