//! Users, departments, refresh families, reset tokens and idempotency
//! answers: JSON documents keyed by the columns that are looked up.

use async_trait::async_trait;
use tokio_postgres::types::Json;
use uuid::Uuid;

use healthsynx_shared::Department;

use super::{PgTx, doc, id_after, id_cursor, limit_of};
use crate::store::backend::{Accounts, Rows};
use crate::store::{Cursor, IdempotencyRow, RefreshFamily, ResetTokenRow, Result, UserRow};

#[async_trait]
impl Accounts for PgTx<'_> {
    async fn user(&mut self, id: Uuid) -> Result<Option<UserRow>> {
        let sql = format!("SELECT doc FROM users WHERE id = $1{}", self.lock());
        self.query_opt(&sql, &[&id]).await?.map(|r| doc(&r, "doc")).transpose()
    }

    async fn user_by_email(&mut self, email: &str) -> Result<Option<UserRow>> {
        let sql = format!("SELECT doc FROM users WHERE email_lower = $1{}", self.lock());
        self.query_opt(&sql, &[&email.to_lowercase()]).await?.map(|r| doc(&r, "doc")).transpose()
    }

    async fn username_taken(&mut self, username: &str) -> Result<bool> {
        Ok(self.query_opt("SELECT 1 FROM users WHERE username = $1", &[&username]).await?.is_some())
    }

    async fn users(&mut self, after: Option<&Cursor>, limit: usize) -> Result<Rows<UserRow>> {
        let rows = self
            .query(
                "SELECT id, doc FROM users WHERE ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2",
                &[&id_after(after)?, &limit_of(limit)],
            )
            .await?;
        rows.iter().map(|r| Ok((id_cursor(r.get(0)), doc(r, "doc")?))).collect()
    }

    async fn put_user(&mut self, row: &UserRow, _old: Option<&UserRow>) -> Result<()> {
        self.execute(
            "INSERT INTO users (id, email_lower, username, doc) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE SET email_lower = $2, username = $3, doc = $4",
            &[&row.id, &row.email.to_lowercase(), &row.username, &Json(row)],
        )
        .await?;
        self.done.accounts = true;
        Ok(())
    }

    async fn departments(&mut self) -> Result<Vec<Department>> {
        let rows = self.query("SELECT doc FROM departments ORDER BY code", &[]).await?;
        rows.iter().map(|r| doc(r, "doc")).collect()
    }

    async fn department(&mut self, code: &str) -> Result<Option<Department>> {
        self.query_opt("SELECT doc FROM departments WHERE code = $1", &[&code])
            .await?
            .map(|r| doc(&r, "doc"))
            .transpose()
    }

    async fn put_department(&mut self, d: &Department) -> Result<()> {
        self.execute(
            "INSERT INTO departments (code, doc) VALUES ($1, $2) ON CONFLICT (code) DO UPDATE SET doc = $2",
            &[&d.code, &Json(d)],
        )
        .await?;
        Ok(())
    }

    async fn refresh_family(&mut self, id: Uuid) -> Result<Option<RefreshFamily>> {
        let sql = format!("SELECT doc FROM refresh_families WHERE id = $1{}", self.lock());
        self.query_opt(&sql, &[&id]).await?.map(|r| doc(&r, "doc")).transpose()
    }

    async fn put_refresh_family(&mut self, f: &RefreshFamily) -> Result<()> {
        self.execute(
            "INSERT INTO refresh_families (id, user_id, expires_at, doc) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE SET expires_at = $3, doc = $4",
            &[&f.id, &f.user_id, &f.expires_at, &Json(f)],
        )
        .await?;
        self.done.families.push(f.id);
        Ok(())
    }

    async fn refresh_families_of(&mut self, user: Uuid) -> Result<Vec<RefreshFamily>> {
        let rows = self.query("SELECT doc FROM refresh_families WHERE user_id = $1 ORDER BY id", &[&user]).await?;
        rows.iter().map(|r| doc(r, "doc")).collect()
    }

    async fn reset_token(&mut self, hash: &str) -> Result<Option<ResetTokenRow>> {
        let sql = format!("SELECT doc FROM reset_tokens WHERE hash = $1{}", self.lock());
        self.query_opt(&sql, &[&hash]).await?.map(|r| doc(&r, "doc")).transpose()
    }

    async fn put_reset_token(&mut self, hash: &str, row: &ResetTokenRow) -> Result<()> {
        self.execute(
            "INSERT INTO reset_tokens (hash, expires_at, doc) VALUES ($1, $2, $3)
             ON CONFLICT (hash) DO UPDATE SET expires_at = $2, doc = $3",
            &[&hash, &row.expires_at, &Json(row)],
        )
        .await?;
        Ok(())
    }

    async fn remove_reset_token(&mut self, hash: &str) -> Result<()> {
        self.execute("DELETE FROM reset_tokens WHERE hash = $1", &[&hash]).await?;
        Ok(())
    }

    async fn idempotency(&mut self, actor: Uuid, key: &str) -> Result<Option<IdempotencyRow>> {
        if self.write {
            // Two requests with one key wait for each other, so the second replays the first.
            self.query(
                "SELECT pg_advisory_xact_lock(hashtextextended($1::text || $2, 0))",
                &[&actor.to_string(), &key],
            )
            .await?;
        }
        self.query_opt("SELECT doc FROM idempotency WHERE actor = $1 AND key = $2", &[&actor, &key])
            .await?
            .map(|r| doc(&r, "doc"))
            .transpose()
    }

    async fn put_idempotency(&mut self, actor: Uuid, key: &str, row: &IdempotencyRow) -> Result<()> {
        self.execute(
            "INSERT INTO idempotency (actor, key, created_at, doc) VALUES ($1, $2, $3, $4)
             ON CONFLICT (actor, key) DO UPDATE SET created_at = $3, doc = $4",
            &[&actor, &key, &row.created_at, &Json(row)],
        )
        .await?;
        Ok(())
    }
}
