//! The hosted flow's single-use artifacts: link sessions, browser sessions, OAuth state.

#[allow(clippy::wildcard_imports)]
use crate::*;
use async_trait::async_trait;

/// The hosted flow's single-use artifacts: link sessions, browser sessions, OAuth state.
#[async_trait]
pub trait FlowStore: Send + Sync {
    async fn create_link_session(&self, session: &LinkSession) -> Result<()>;
    /// Atomically marks the link session whose token hashes to `token_hash` used (only if unused,
    /// unexpired at `now` and of the same kind as `browser`) and creates `browser` bound to it
    /// (the store sets `browser.tenant_id`/`company_id`/`link_session_id` from the link session).
    /// `None` if it was not usable; then nothing is written.
    async fn consume_link_session(
        &self,
        token_hash: &TokenHash,
        now: OffsetDateTime,
        browser: &BrowserSession,
    ) -> Result<Option<LinkSession>>;
    async fn link_session(
        &self,
        tenant: TenantId,
        id: LinkSessionId,
    ) -> Result<Option<LinkSession>>;
    /// The link session whose token hashes to `token_hash`, used or not, expired or not, without
    /// changing it: the embed entry checks the host origin against its tenant's list before
    /// using the link, and names the tenant on the page when the link is no longer usable.
    async fn link_session_by_token(&self, token_hash: &TokenHash) -> Result<Option<LinkSession>>;
    async fn create_browser_session(&self, session: &BrowserSession) -> Result<()>;
    /// The unexpired session of this kind whose cookie token hashes to `token_hash`.
    async fn browser_session(
        &self,
        token_hash: &TokenHash,
        kind: SessionKind,
        now: OffsetDateTime,
    ) -> Result<Option<BrowserSession>>;
    /// Ends the browser session whose cookie token hashes to `token_hash` at `now` (the customer
    /// left or finished: the next person at the same computer finds no session), and frees its
    /// link session for another opening while that is unexpired, so the link the customer was
    /// sent opens the flow again. `false` if no unexpired session had that token.
    async fn end_browser_session(
        &self,
        token_hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<bool>;
    async fn create_oauth_flow(&self, flow: &OAuthFlow) -> Result<()>;
    /// Stores a company's personal manage link.
    async fn create_manage_link(&self, link: &ManageLink) -> Result<()>;
    /// The unrevoked manage link whose token hashes to `token_hash`, of a company not deleted.
    async fn manage_link(&self, token_hash: &TokenHash) -> Result<Option<ManageLink>>;
    /// Atomically revokes the unrevoked manage link whose token hashes to `token_hash` at `now`
    /// and returns it (as it was); `None` if there was none: of two racing uses, one wins.
    async fn use_manage_link(
        &self,
        token_hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<ManageLink>>;
    /// Revokes every unrevoked manage link of this tenant's company at `now`; how many.
    async fn revoke_manage_links(
        &self,
        tenant: TenantId,
        company: CompanyId,
        now: OffsetDateTime,
    ) -> Result<u64>;
    /// Atomically consumes the flow with this state hash if it is unexpired at `now` and bound to
    /// `session`. Consumed means gone: a replay finds nothing.
    async fn consume_oauth_flow(
        &self,
        state_hash: &TokenHash,
        session: BrowserSessionId,
        now: OffsetDateTime,
    ) -> Result<Option<OAuthFlow>>;
}
