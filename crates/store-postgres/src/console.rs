//! [`ConsoleStore`] on PostgreSQL (`migrations/0023_console.sql`): the tenant console's people,
//! set-password links, sessions and audit trail. A set-password link is spent by one
//! conditional `update … returning`: of two racing uses, the second finds it used.

use crate::codec::RowExt;
use crate::error::{corrupt, db};
use crate::PgStore;
use accord_domain::console::{
    AuditEntry, AuditId, ConsoleSession, ConsoleUser, SetPasswordPurpose, SetPasswordToken, UserId,
};
use accord_domain::crypto::TokenHash;
use accord_domain::ids::{CompanyId, TenantId};
use accord_domain::ledger::EventKind;
use accord_store::{ConsoleStore, LedgerPosition, Result, StoreError};
use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::Row as _;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

macro_rules! user_cols {
    () => {
        "id, tenant_id, email, name, role, password_hash, totp_secret, failed_sign_ins, \
         locked_until, created_at, disabled_at"
    };
}

macro_rules! token_cols {
    () => {
        "token_hash, user_id, tenant_id, purpose, created_at, expires_at, used_at"
    };
}

macro_rules! session_cols {
    () => {
        "id_hash, user_id, tenant_id, created_at, last_seen_at, expires_at, ended_at, user_agent"
    };
}

macro_rules! audit_cols {
    () => {
        "id, tenant_id, actor, action, target, detail, at"
    };
}

fn user_from(r: &PgRow) -> Result<ConsoleUser> {
    let failed = r.int("failed_sign_ins")?;
    Ok(ConsoleUser {
        id: r.id("id")?,
        tenant_id: r.id("tenant_id")?,
        email: r.text("email")?,
        name: r.text("name")?,
        role: r.parsed("role")?,
        password_hash: r.opt_text("password_hash")?,
        totp_secret: r.opt_text("totp_secret")?,
        failed_sign_ins: u32::try_from(failed).map_err(|e| corrupt("failed_sign_ins", e))?,
        locked_until: r.opt_time("locked_until")?,
        created_at: r.time("created_at")?,
        disabled_at: r.opt_time("disabled_at")?,
    })
}

fn token_from(r: &PgRow) -> Result<SetPasswordToken> {
    let purpose = r.text("purpose")?;
    Ok(SetPasswordToken {
        token_hash: TokenHash(r.text("token_hash")?),
        user_id: r.id("user_id")?,
        tenant_id: r.id("tenant_id")?,
        purpose: SetPasswordPurpose::parse(&purpose).ok_or_else(|| corrupt("purpose", purpose))?,
        created_at: r.time("created_at")?,
        expires_at: r.time("expires_at")?,
        used_at: r.opt_time("used_at")?,
    })
}

fn session_from(r: &PgRow) -> Result<ConsoleSession> {
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

fn audit_from(r: &PgRow) -> Result<AuditEntry> {
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

/// The counter as stored: PostgreSQL's `integer` (a count of failed sign-ins never nears it).
fn failed_count(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[async_trait]
impl ConsoleStore for PgStore {
    async fn create_user(&self, u: &ConsoleUser) -> Result<()> {
        sqlx::query(concat!(
            "insert into console_users (",
            user_cols!(),
            ") values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(u.id.as_uuid())
        .bind(u.tenant_id.as_uuid())
        .bind(&u.email)
        .bind(&u.name)
        .bind(u.role.as_str())
        .bind(&u.password_hash)
        .bind(&u.totp_secret)
        .bind(failed_count(u.failed_sign_ins))
        .bind(u.locked_until)
        .bind(u.created_at)
        .bind(u.disabled_at)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn user(&self, id: UserId) -> Result<Option<ConsoleUser>> {
        sqlx::query(concat!(
            "select ",
            user_cols!(),
            " from console_users where id = $1"
        ))
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| user_from(&r))
        .transpose()
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<ConsoleUser>> {
        sqlx::query(concat!(
            "select ",
            user_cols!(),
            " from console_users where email = $1"
        ))
        .bind(email)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| user_from(&r))
        .transpose()
    }

    async fn users(&self, tenant: TenantId) -> Result<Vec<ConsoleUser>> {
        sqlx::query(concat!(
            "select ",
            user_cols!(),
            " from console_users where tenant_id = $1 order by id"
        ))
        .bind(tenant.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(user_from)
        .collect()
    }

    async fn update_user(&self, u: &ConsoleUser) -> Result<()> {
        let done = sqlx::query(
            "update console_users set name = $2, role = $3, password_hash = $4, totp_secret = $5,
                 failed_sign_ins = $6, locked_until = $7, disabled_at = $8
             where id = $1",
        )
        .bind(u.id.as_uuid())
        .bind(&u.name)
        .bind(u.role.as_str())
        .bind(&u.password_hash)
        .bind(&u.totp_secret)
        .bind(failed_count(u.failed_sign_ins))
        .bind(u.locked_until)
        .bind(u.disabled_at)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn add_set_password_token(&self, t: &SetPasswordToken) -> Result<()> {
        let done = sqlx::query(concat!(
            "insert into console_set_password_tokens (",
            token_cols!(),
            ") select $1, id, tenant_id, $4, $5, $6, $7 from console_users
               where id = $2 and tenant_id = $3"
        ))
        .bind(&t.token_hash.0)
        .bind(t.user_id.as_uuid())
        .bind(t.tenant_id.as_uuid())
        .bind(t.purpose.as_str())
        .bind(t.created_at)
        .bind(t.expires_at)
        .bind(t.used_at)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn use_set_password_token(
        &self,
        token_hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<SetPasswordToken>> {
        sqlx::query(concat!(
            "update console_set_password_tokens set used_at = $2
             where token_hash = $1 and used_at is null and expires_at > $2
             returning ",
            token_cols!()
        ))
        .bind(&token_hash.0)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| token_from(&r))
        .transpose()
    }

    async fn create_session(&self, s: &ConsoleSession) -> Result<()> {
        let done = sqlx::query(concat!(
            "insert into console_sessions (",
            session_cols!(),
            ") select $1, id, tenant_id, $4, $5, $6, $7, $8 from console_users
               where id = $2 and tenant_id = $3"
        ))
        .bind(&s.id_hash.0)
        .bind(s.user_id.as_uuid())
        .bind(s.tenant_id.as_uuid())
        .bind(s.created_at)
        .bind(s.last_seen_at)
        .bind(s.expires_at)
        .bind(s.ended_at)
        .bind(&s.user_agent)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn session(&self, id_hash: &TokenHash) -> Result<Option<ConsoleSession>> {
        sqlx::query(concat!(
            "select ",
            session_cols!(),
            " from console_sessions where id_hash = $1"
        ))
        .bind(&id_hash.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| session_from(&r))
        .transpose()
    }

    async fn touch_session(&self, id_hash: &TokenHash, now: OffsetDateTime) -> Result<()> {
        sqlx::query(
            "update console_sessions set last_seen_at = $2 where id_hash = $1 and ended_at is null",
        )
        .bind(&id_hash.0)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn end_session(&self, id_hash: &TokenHash, now: OffsetDateTime) -> Result<()> {
        sqlx::query(
            "update console_sessions set ended_at = $2 where id_hash = $1 and ended_at is null",
        )
        .bind(&id_hash.0)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn end_user_sessions(&self, user: UserId, now: OffsetDateTime) -> Result<u64> {
        let done = sqlx::query(
            "update console_sessions set ended_at = $2 where user_id = $1 and ended_at is null",
        )
        .bind(user.as_uuid())
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(done.rows_affected())
    }

    async fn user_sessions(
        &self,
        user: UserId,
        now: OffsetDateTime,
    ) -> Result<Vec<ConsoleSession>> {
        sqlx::query(concat!(
            "select ",
            session_cols!(),
            " from console_sessions where user_id = $1 and ended_at is null and expires_at > $2
              order by created_at desc, id_hash collate \"C\""
        ))
        .bind(user.as_uuid())
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(session_from)
        .collect()
    }

    async fn record_audit(&self, e: &AuditEntry) -> Result<()> {
        sqlx::query(concat!(
            "insert into audit_log (",
            audit_cols!(),
            ") values ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(e.id.as_uuid())
        .bind(e.tenant_id.as_uuid())
        .bind(&e.actor)
        .bind(&e.action)
        .bind(&e.target)
        .bind(Json(&e.detail))
        .bind(e.at)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn audit(
        &self,
        tenant: TenantId,
        after: Option<AuditId>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>> {
        // The first page starts above every id.
        let before = after.map_or(Uuid::max(), |a| a.as_uuid());
        sqlx::query(concat!(
            "select ",
            audit_cols!(),
            " from audit_log where tenant_id = $1 and id < $2 order by id desc limit $3"
        ))
        .bind(tenant.as_uuid())
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(audit_from)
        .collect()
    }

    async fn record_sign_in_failure(
        &self,
        user: UserId,
        now: OffsetDateTime,
        max_failures: u32,
        lockout: Duration,
    ) -> Result<Option<OffsetDateTime>> {
        // One statement: the row lock orders instances' failures, and every `set` expression
        // reads the row as it was, so the count and the lock move together.
        let row: Option<(Option<OffsetDateTime>,)> = sqlx::query_as(
            "update console_users set
                 failed_sign_ins = case when failed_sign_ins + 1 >= $2 then 0
                     else failed_sign_ins + 1 end,
                 locked_until = case when failed_sign_ins + 1 >= $2 then $3
                     else locked_until end
             where id = $1
             returning locked_until",
        )
        .bind(user.as_uuid())
        .bind(i32::try_from(max_failures).unwrap_or(i32::MAX))
        .bind(now + lockout)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(|(locked,)| locked).ok_or(StoreError::NotFound)
    }

    async fn clear_sign_in_failures(&self, user: UserId) -> Result<()> {
        sqlx::query(
            "update console_users set failed_sign_ins = 0, locked_until = null where id = $1",
        )
        .bind(user.as_uuid())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn accept_totp_step(&self, user: UserId, step: i64) -> Result<bool> {
        // A row comes back only for a known user, with whether the step was accepted: a
        // replay and an unknown user are told apart in one round trip.
        let row: Option<(bool,)> = sqlx::query_as(
            "with accepted as (
                 update console_users set totp_last_step = $2
                 where id = $1 and (totp_last_step is null or totp_last_step < $2)
                 returning id
             )
             select exists (select 1 from accepted) from console_users where id = $1",
        )
        .bind(user.as_uuid())
        .bind(step)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(|(accepted,)| accepted).ok_or(StoreError::NotFound)
    }

    async fn company_ledger_positions(
        &self,
        tenant: TenantId,
        company: CompanyId,
    ) -> Result<Vec<LedgerPosition>> {
        // The company's consents through its connections (consents have no per-company index),
        // then each consent's events by `ledger_events_consent`.
        sqlx::query(
            "select e.consent_id, e.seq, e.kind, e.at
             from consents c
             join ledger_events e on e.consent_id = c.id and e.tenant_id = c.tenant_id
             where c.tenant_id = $1 and c.connection_id in
                 (select id from connections where tenant_id = $1 and company_id = $2)
             order by e.seq",
        )
        .bind(tenant.as_uuid())
        .bind(company.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(|r| {
            let kind = r.text("kind")?;
            Ok(LedgerPosition {
                consent_id: r.id("consent_id")?,
                seq: r.try_get("seq").map_err(db)?,
                kind: EventKind::parse(&kind).ok_or_else(|| corrupt("kind", kind))?,
                at: r.time("at")?,
            })
        })
        .collect()
    }
}
