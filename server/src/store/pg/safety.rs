//! Break-glass grants and second factors: JSON documents keyed by the
//! columns that are looked up.

use async_trait::async_trait;
use tokio_postgres::types::Json;
use uuid::Uuid;

use super::{PgTx, doc};
use crate::store::backend::Safety;
use crate::store::{CalendarFeedRow, GrantRow, MfaChallengeRow, MfaRow, Result};

#[async_trait]
impl Safety for PgTx<'_> {
    async fn calendar_feed_by_hash(&mut self, hash: &str) -> Result<Option<CalendarFeedRow>> {
        let row = self.query_opt("SELECT doc FROM calendar_feeds WHERE token_hash = $1", &[&hash]).await?;
        row.map(|r| doc(&r, "doc")).transpose()
    }

    async fn calendar_feed_of(&mut self, user: Uuid) -> Result<Option<CalendarFeedRow>> {
        let sql = format!("SELECT doc FROM calendar_feeds WHERE user_id = $1{}", self.lock());
        self.query_opt(&sql, &[&user]).await?.map(|r| doc(&r, "doc")).transpose()
    }

    async fn put_calendar_feed(&mut self, row: &CalendarFeedRow, _old: Option<&CalendarFeedRow>) -> Result<()> {
        // One row per user: the new token replaces the old one's hash.
        self.execute(
            "INSERT INTO calendar_feeds (user_id, token_hash, doc) VALUES ($1, $2, $3)
             ON CONFLICT (user_id) DO UPDATE SET token_hash = $2, doc = $3",
            &[&row.user_id, &row.token_hash, &Json(row)],
        )
        .await?;
        Ok(())
    }

    async fn remove_calendar_feed(&mut self, row: &CalendarFeedRow) -> Result<()> {
        self.execute("DELETE FROM calendar_feeds WHERE user_id = $1", &[&row.user_id]).await?;
        Ok(())
    }

    async fn grant(&mut self, id: Uuid) -> Result<Option<GrantRow>> {
        let sql = format!("SELECT doc FROM break_glass_grants WHERE id = $1{}", self.lock());
        self.query_opt(&sql, &[&id]).await?.map(|r| doc(&r, "doc")).transpose()
    }

    async fn put_grant(&mut self, row: &GrantRow) -> Result<()> {
        self.execute(
            "INSERT INTO break_glass_grants (id, actor_id, patient_id, reviewed, doc) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO UPDATE SET reviewed = $4, doc = $5",
            &[&row.id, &row.actor_id, &row.patient_id, &row.reviewed_at.is_some(), &Json(row)],
        )
        .await?;
        Ok(())
    }

    async fn grants_of(&mut self, actor: Uuid, patient: Uuid) -> Result<Vec<GrantRow>> {
        let rows = self
            .query(
                "SELECT doc FROM break_glass_grants WHERE actor_id = $1 AND patient_id = $2 ORDER BY id DESC",
                &[&actor, &patient],
            )
            .await?;
        rows.iter().map(|r| doc(r, "doc")).collect()
    }

    async fn unreviewed_grants(&mut self, limit: usize) -> Result<Vec<GrantRow>> {
        let limit = limit.min(i64::MAX as usize) as i64;
        let rows =
            self.query("SELECT doc FROM break_glass_grants WHERE NOT reviewed ORDER BY id LIMIT $1", &[&limit]).await?;
        rows.iter().map(|r| doc(r, "doc")).collect()
    }

    async fn mfa(&mut self, user: Uuid) -> Result<Option<MfaRow>> {
        let sql = format!("SELECT doc FROM mfa_factors WHERE user_id = $1{}", self.lock());
        self.query_opt(&sql, &[&user]).await?.map(|r| doc(&r, "doc")).transpose()
    }

    async fn put_mfa(&mut self, row: &MfaRow) -> Result<()> {
        self.execute(
            "INSERT INTO mfa_factors (user_id, doc) VALUES ($1, $2) ON CONFLICT (user_id) DO UPDATE SET doc = $2",
            &[&row.user_id, &Json(row)],
        )
        .await?;
        Ok(())
    }

    async fn remove_mfa(&mut self, user: Uuid) -> Result<()> {
        self.execute("DELETE FROM mfa_factors WHERE user_id = $1", &[&user]).await?;
        Ok(())
    }

    async fn mfa_challenge(&mut self, hash: &str) -> Result<Option<MfaChallengeRow>> {
        let sql = format!("SELECT doc FROM mfa_challenges WHERE hash = $1{}", self.lock());
        self.query_opt(&sql, &[&hash]).await?.map(|r| doc(&r, "doc")).transpose()
    }

    async fn put_mfa_challenge(&mut self, hash: &str, row: &MfaChallengeRow) -> Result<()> {
        self.execute(
            "INSERT INTO mfa_challenges (hash, expires_at, doc) VALUES ($1, $2, $3)
             ON CONFLICT (hash) DO UPDATE SET expires_at = $2, doc = $3",
            &[&hash, &row.expires_at, &Json(row)],
        )
        .await?;
        Ok(())
    }

    async fn remove_mfa_challenge(&mut self, hash: &str) -> Result<()> {
        self.execute("DELETE FROM mfa_challenges WHERE hash = $1", &[&hash]).await?;
        Ok(())
    }
}
