//! The tenant console's people, set-password links, sessions and audit trail
//! ([`ConsoleStore`], `migrations/0022_console.sql`). A set-password link is spent by one
//! conditional `update … returning` on the single writer, so two racing uses cannot both
//! succeed.

use crate::codec::{all, exec, micros, one, opt_micros, to_json, RowExt};
use crate::SqliteStore;
use accord_domain::console::{
    AuditEntry, AuditId, ConsoleSession, ConsoleUser, SetPasswordPurpose, SetPasswordToken, UserId,
};
use accord_domain::crypto::TokenHash;
use accord_domain::ids::{CompanyId, TenantId};
use accord_domain::ledger::EventKind;
use accord_store::{ConsoleStore, LedgerPosition, Result};
use async_trait::async_trait;
use rusqlite::{params, Row};
use time::{Duration, OffsetDateTime};

const USER_COLS: &str = "id, tenant_id, email, name, role, password_hash, totp_secret, \
     failed_sign_ins, locked_until, created_at, disabled_at";
const TOKEN_COLS: &str = "token_hash, user_id, tenant_id, purpose, created_at, expires_at, used_at";
const SESSION_COLS: &str =
    "id_hash, user_id, tenant_id, created_at, last_seen_at, expires_at, ended_at, user_agent";
const AUDIT_COLS: &str = "id, tenant_id, actor, action, target, detail, at";

fn user_from(r: &Row<'_>) -> Result<ConsoleUser> {
    Ok(ConsoleUser {
        id: r.id("id")?,
        tenant_id: r.id("tenant_id")?,
        email: r.text("email")?,
        name: r.text("name")?,
        role: r.parsed("role")?,
        password_hash: r.opt_text("password_hash")?,
        totp_secret: r.opt_text("totp_secret")?,
        failed_sign_ins: r.value("failed_sign_ins")?,
        locked_until: r.opt_time("locked_until")?,
        created_at: r.time("created_at")?,
        disabled_at: r.opt_time("disabled_at")?,
    })
}

fn token_from(r: &Row<'_>) -> Result<SetPasswordToken> {
    let purpose = r.text("purpose")?;
    Ok(SetPasswordToken {
        token_hash: TokenHash(r.text("token_hash")?),
        user_id: r.id("user_id")?,
        tenant_id: r.id("tenant_id")?,
        purpose: SetPasswordPurpose::parse(&purpose)
            .ok_or_else(|| crate::error::corrupt("purpose", purpose))?,
        created_at: r.time("created_at")?,
        expires_at: r.time("expires_at")?,
        used_at: r.opt_time("used_at")?,
    })
}

fn session_from(r: &Row<'_>) -> Result<ConsoleSession> {
    Ok(ConsoleSession {
        id_hash: TokenHash(r.text("id_hash")?),
        user_id: r.id("user_id")?,
        tenant_id: r.id("tenant_id")?,
        created_at: r.time("created_at")?,
        last_seen_at: r.time("last_seen_at")?,
        expires_at: r.time("expires_at")?,
        ended_at: r.opt_time("ended_at")?,
        user_agent: r.text("user_agent")?,
    })
}

fn audit_from(r: &Row<'_>) -> Result<AuditEntry> {
    Ok(AuditEntry {
        id: r.id("id")?,
        tenant_id: r.id("tenant_id")?,
        actor: r.text("actor")?,
        action: r.text("action")?,
        target: r.opt_text("target")?,
        detail: r.json("detail")?,
        at: r.time("at")?,
    })
}

#[async_trait]
impl ConsoleStore for SqliteStore {
    async fn create_user(&self, user: &ConsoleUser) -> Result<()> {
        let u = user.clone();
        self.write
            .run(move |db| {
                exec(
                    db,
                    &format!(
                        "insert into console_users ({USER_COLS})
                         values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
                    ),
                    params![
                        u.id.to_string(),
                        u.tenant_id.to_string(),
                        u.email,
                        u.name,
                        u.role.as_str(),
                        u.password_hash,
                        u.totp_secret,
                        u.failed_sign_ins,
                        opt_micros(u.locked_until),
                        micros(u.created_at),
                        opt_micros(u.disabled_at),
                    ],
                )?;
                Ok(())
            })
            .await
    }

    async fn user(&self, id: UserId) -> Result<Option<ConsoleUser>> {
        self.read
            .run_point(move |db| {
                one(
                    db,
                    &format!("select {USER_COLS} from console_users where id = ?1"),
                    [id.to_string()],
                    user_from,
                )
            })
            .await
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<ConsoleUser>> {
        let email = email.to_owned();
        self.read
            .run_point(move |db| {
                one(
                    db,
                    &format!("select {USER_COLS} from console_users where email = ?1"),
                    [email],
                    user_from,
                )
            })
            .await
    }

    async fn users(&self, tenant: TenantId) -> Result<Vec<ConsoleUser>> {
        self.read
            .run_point(move |db| {
                all(
                    db,
                    &format!(
                        "select {USER_COLS} from console_users where tenant_id = ?1 order by id"
                    ),
                    [tenant.to_string()],
                    user_from,
                )
            })
            .await
    }

    async fn update_user(&self, user: &ConsoleUser) -> Result<()> {
        let u = user.clone();
        self.write
            .run(move |db| {
                let changed = exec(
                    db,
                    "update console_users set name = ?2, role = ?3, password_hash = ?4,
                         totp_secret = ?5, failed_sign_ins = ?6, locked_until = ?7,
                         disabled_at = ?8
                     where id = ?1",
                    params![
                        u.id.to_string(),
                        u.name,
                        u.role.as_str(),
                        u.password_hash,
                        u.totp_secret,
                        u.failed_sign_ins,
                        opt_micros(u.locked_until),
                        opt_micros(u.disabled_at),
                    ],
                )?;
                if changed == 0 {
                    return Err(accord_store::StoreError::NotFound);
                }
                Ok(())
            })
            .await
    }

    async fn add_set_password_token(&self, token: &SetPasswordToken) -> Result<()> {
        let t = token.clone();
        self.write
            .run(move |db| {
                exec(
                    db,
                    &format!(
                        "insert into console_set_password_tokens ({TOKEN_COLS})
                         select ?1, id, tenant_id, ?4, ?5, ?6, ?7 from console_users
                         where id = ?2 and tenant_id = ?3"
                    ),
                    params![
                        t.token_hash.0,
                        t.user_id.to_string(),
                        t.tenant_id.to_string(),
                        t.purpose.as_str(),
                        micros(t.created_at),
                        micros(t.expires_at),
                        opt_micros(t.used_at),
                    ],
                )
                .and_then(|n| {
                    if n == 1 {
                        Ok(())
                    } else {
                        Err(accord_store::StoreError::NotFound)
                    }
                })
            })
            .await
    }

    async fn use_set_password_token(
        &self,
        token_hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<SetPasswordToken>> {
        let hash = token_hash.0.clone();
        self.write
            .run(move |db| {
                one(
                    db,
                    &format!(
                        "update console_set_password_tokens set used_at = ?2
                         where token_hash = ?1 and used_at is null and expires_at > ?2
                         returning {TOKEN_COLS}"
                    ),
                    params![hash, micros(now)],
                    token_from,
                )
            })
            .await
    }

    async fn create_session(&self, session: &ConsoleSession) -> Result<()> {
        let s = session.clone();
        self.write
            .run(move |db| {
                let n = exec(
                    db,
                    &format!(
                        "insert into console_sessions ({SESSION_COLS})
                         select ?1, id, tenant_id, ?4, ?5, ?6, ?7, ?8 from console_users
                         where id = ?2 and tenant_id = ?3"
                    ),
                    params![
                        s.id_hash.0,
                        s.user_id.to_string(),
                        s.tenant_id.to_string(),
                        micros(s.created_at),
                        micros(s.last_seen_at),
                        micros(s.expires_at),
                        opt_micros(s.ended_at),
                        s.user_agent,
                    ],
                )?;
                if n == 1 {
                    Ok(())
                } else {
                    Err(accord_store::StoreError::NotFound)
                }
            })
            .await
    }

    async fn session(&self, id_hash: &TokenHash) -> Result<Option<ConsoleSession>> {
        let hash = id_hash.0.clone();
        self.read
            .run_point(move |db| {
                one(
                    db,
                    &format!("select {SESSION_COLS} from console_sessions where id_hash = ?1"),
                    [hash],
                    session_from,
                )
            })
            .await
    }

    async fn touch_session(&self, id_hash: &TokenHash, now: OffsetDateTime) -> Result<()> {
        let hash = id_hash.0.clone();
        self.write
            .run(move |db| {
                exec(
                    db,
                    "update console_sessions set last_seen_at = ?2
                     where id_hash = ?1 and ended_at is null",
                    params![hash, micros(now)],
                )?;
                Ok(())
            })
            .await
    }

    async fn end_session(&self, id_hash: &TokenHash, now: OffsetDateTime) -> Result<()> {
        let hash = id_hash.0.clone();
        self.write
            .run(move |db| {
                exec(
                    db,
                    "update console_sessions set ended_at = ?2
                     where id_hash = ?1 and ended_at is null",
                    params![hash, micros(now)],
                )?;
                Ok(())
            })
            .await
    }

    async fn end_user_sessions(&self, user: UserId, now: OffsetDateTime) -> Result<u64> {
        self.write
            .run(move |db| {
                let n = exec(
                    db,
                    "update console_sessions set ended_at = ?2
                     where user_id = ?1 and ended_at is null",
                    params![user.to_string(), micros(now)],
                )?;
                Ok(n as u64)
            })
            .await
    }

    async fn user_sessions(
        &self,
        user: UserId,
        now: OffsetDateTime,
    ) -> Result<Vec<ConsoleSession>> {
        self.read
            .run_point(move |db| {
                all(
                    db,
                    &format!(
                        "select {SESSION_COLS} from console_sessions
                         where user_id = ?1 and ended_at is null and expires_at > ?2
                         order by created_at desc, id_hash"
                    ),
                    params![user.to_string(), micros(now)],
                    session_from,
                )
            })
            .await
    }

    async fn record_audit(&self, entry: &AuditEntry) -> Result<()> {
        let e = entry.clone();
        let detail = to_json(&e.detail)?;
        self.write
            .run(move |db| {
                exec(
                    db,
                    &format!(
                        "insert into audit_log ({AUDIT_COLS}) values (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                    ),
                    params![
                        e.id.to_string(),
                        e.tenant_id.to_string(),
                        e.actor,
                        e.action,
                        e.target,
                        detail,
                        micros(e.at),
                    ],
                )?;
                Ok(())
            })
            .await
    }

    async fn audit(
        &self,
        tenant: TenantId,
        after: Option<AuditId>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>> {
        // Ids are time-ordered UUIDs in hyphenated text, which sorts like the ids; the first
        // page starts above every id.
        let before = after.map_or_else(|| "~".to_owned(), |a| a.to_string());
        self.read
            .run_point(move |db| {
                all(
                    db,
                    &format!(
                        "select {AUDIT_COLS} from audit_log
                         where tenant_id = ?1 and id < ?2 order by id desc limit ?3"
                    ),
                    params![tenant.to_string(), before, limit],
                    audit_from,
                )
            })
            .await
    }

    async fn record_sign_in_failure(
        &self,
        user: UserId,
        now: OffsetDateTime,
        max_failures: u32,
        lockout: Duration,
    ) -> Result<Option<OffsetDateTime>> {
        // Every `set` expression reads the row as it was: the count and the lock move together.
        let until = micros(now + lockout);
        self.write
            .run(move |db| {
                let locked: Option<Option<i64>> = one(
                    db,
                    "update console_users set
                         failed_sign_ins = case when failed_sign_ins + 1 >= ?2 then 0
                             else failed_sign_ins + 1 end,
                         locked_until = case when failed_sign_ins + 1 >= ?2 then ?3
                             else locked_until end
                     where id = ?1
                     returning locked_until",
                    params![user.to_string(), max_failures, until],
                    |r| r.value("locked_until"),
                )?;
                let locked = locked.ok_or(accord_store::StoreError::NotFound)?;
                locked
                    .map(|t| crate::codec::time_of("locked_until", t))
                    .transpose()
            })
            .await
    }

    async fn clear_sign_in_failures(&self, user: UserId) -> Result<()> {
        self.write
            .run(move |db| {
                exec(
                    db,
                    "update console_users set failed_sign_ins = 0, locked_until = null
                     where id = ?1",
                    [user.to_string()],
                )?;
                Ok(())
            })
            .await
    }

    async fn accept_totp_step(&self, user: UserId, step: i64) -> Result<bool> {
        self.write
            .run(move |db| {
                let accepted = exec(
                    db,
                    "update console_users set totp_last_step = ?2
                     where id = ?1 and (totp_last_step is null or totp_last_step < ?2)",
                    params![user.to_string(), step],
                )?;
                if accepted == 1 {
                    return Ok(true);
                }
                let known: Option<i64> = one(
                    db,
                    "select 1 as n from console_users where id = ?1",
                    [user.to_string()],
                    |r| r.value("n"),
                )?;
                known
                    .map(|_| false)
                    .ok_or(accord_store::StoreError::NotFound)
            })
            .await
    }

    async fn company_ledger_positions(
        &self,
        tenant: TenantId,
        company: CompanyId,
    ) -> Result<Vec<LedgerPosition>> {
        // The company's consents through its connections (consents have no per-company index),
        // then each consent's events by `ledger_events_consent`.
        self.read
            .run(move |db| {
                all(
                    db,
                    "select e.consent_id, e.seq, e.kind, e.at
                     from consents c
                     join ledger_events e indexed by ledger_events_consent
                         on e.tenant_id = c.tenant_id and e.consent_id = c.id
                     where c.tenant_id = ?1 and c.connection_id in
                         (select id from connections where tenant_id = ?1 and company_id = ?2)
                     order by e.seq",
                    [tenant.to_string(), company.to_string()],
                    |r| {
                        let kind = r.text("kind")?;
                        Ok(LedgerPosition {
                            consent_id: r.id("consent_id")?,
                            seq: r.int("seq")?,
                            kind: EventKind::parse(&kind)
                                .ok_or_else(|| crate::error::corrupt("kind", kind))?,
                            at: r.time("at")?,
                        })
                    },
                )
            })
            .await
    }
}
