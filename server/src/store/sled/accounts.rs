//! Users, departments, refresh families, reset tokens and idempotency
//! answers as sled rows (JSON) and their indexes.

use async_trait::async_trait;
use uuid::Uuid;

use healthsynx_shared::Department;

use super::{SledTx, T, keys, page_json, uuid_of};
use crate::store::backend::{Accounts, Rows};
use crate::store::{Cursor, IdempotencyRow, RefreshFamily, ResetTokenRow, Result, UserRow};

fn idempotency_key(actor: Uuid, key: &str) -> Vec<u8> {
    [actor.as_bytes().as_slice(), key.as_bytes()].concat()
}

#[async_trait]
impl Accounts for SledTx<'_> {
    async fn user(&mut self, id: Uuid) -> Result<Option<UserRow>> {
        self.s.get_json(T::Users, id.as_bytes())
    }

    async fn user_by_email(&mut self, email: &str) -> Result<Option<UserRow>> {
        match self.s.tree(T::UsersByEmail).get(email.to_lowercase())? {
            Some(id) => self.s.get_json(T::Users, uuid_of(&id)?.as_bytes()),
            None => Ok(None),
        }
    }

    async fn username_taken(&mut self, username: &str) -> Result<bool> {
        Ok(self.s.tree(T::UsersByUsername).contains_key(username)?)
    }

    async fn users(&mut self, after: Option<&Cursor>, limit: usize) -> Result<Rows<UserRow>> {
        page_json(self.s.tree(T::Users), after, None, limit)
    }

    async fn put_user(&mut self, row: &UserRow, old: Option<&UserRow>) -> Result<()> {
        let c = &mut self.changes;
        if let Some(old) = old {
            if old.email.to_lowercase() != row.email.to_lowercase() {
                c.remove(T::UsersByEmail, old.email.to_lowercase());
            }
            if old.username != row.username {
                c.remove(T::UsersByUsername, &old.username);
            }
        }
        c.put(T::UsersByEmail, row.email.to_lowercase(), row.id.as_bytes().to_vec());
        c.put(T::UsersByUsername, &row.username, row.id.as_bytes().to_vec());
        c.put_json(T::Users, row.id.as_bytes(), row)
    }

    async fn departments(&mut self) -> Result<Vec<Department>> {
        Ok(page_json(self.s.tree(T::Departments), None, None, usize::MAX)?.into_iter().map(|(_, d)| d).collect())
    }

    async fn department(&mut self, code: &str) -> Result<Option<Department>> {
        self.s.get_json(T::Departments, code)
    }

    async fn put_department(&mut self, d: &Department) -> Result<()> {
        self.changes.put_json(T::Departments, &d.code, d)
    }

    async fn refresh_family(&mut self, id: Uuid) -> Result<Option<RefreshFamily>> {
        self.s.get_json(T::RefreshFamilies, id.as_bytes())
    }

    async fn put_refresh_family(&mut self, f: &RefreshFamily) -> Result<()> {
        self.changes.put(T::FamiliesByUser, keys::pair(f.user_id, f.id), Vec::new());
        self.changes.put_json(T::RefreshFamilies, f.id.as_bytes(), f)
    }

    async fn refresh_families_of(&mut self, user: Uuid) -> Result<Vec<RefreshFamily>> {
        let mut out = Vec::new();
        for entry in self.s.tree(T::FamiliesByUser).scan_prefix(user.as_bytes()) {
            let (key, _) = entry?;
            // A family swept since its entry was read is simply gone.
            if let Some(id) = keys::trailing_id(&key)
                && let Some(f) = self.s.get_json(T::RefreshFamilies, id.as_bytes())?
            {
                out.push(f);
            }
        }
        Ok(out)
    }

    async fn reset_token(&mut self, hash: &str) -> Result<Option<ResetTokenRow>> {
        self.s.get_json(T::ResetTokens, hash)
    }

    async fn put_reset_token(&mut self, hash: &str, row: &ResetTokenRow) -> Result<()> {
        self.changes.put_json(T::ResetTokens, hash, row)
    }

    async fn remove_reset_token(&mut self, hash: &str) -> Result<()> {
        self.changes.remove(T::ResetTokens, hash);
        Ok(())
    }

    async fn idempotency(&mut self, actor: Uuid, key: &str) -> Result<Option<IdempotencyRow>> {
        self.s.get_json(T::Idempotency, idempotency_key(actor, key))
    }

    async fn put_idempotency(&mut self, actor: Uuid, key: &str, row: &IdempotencyRow) -> Result<()> {
        self.changes.put_json(T::Idempotency, idempotency_key(actor, key), row)
    }
}
