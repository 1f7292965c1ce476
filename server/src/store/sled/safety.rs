//! Break-glass grants, second factors and calendar feeds as sled rows (JSON).

use async_trait::async_trait;
use uuid::Uuid;

use super::{SledTx, T, keys};
use crate::store::backend::Safety;
use crate::store::{CalendarFeedRow, GrantRow, MfaChallengeRow, MfaRow, Result};

#[async_trait]
impl Safety for SledTx<'_> {
    async fn calendar_feed_by_hash(&mut self, hash: &str) -> Result<Option<CalendarFeedRow>> {
        match self.s.tree(T::CalendarFeedsByHash).get(hash)? {
            Some(user) => self.s.get_json(T::CalendarFeeds, &user),
            None => Ok(None),
        }
    }

    async fn calendar_feed_of(&mut self, user: Uuid) -> Result<Option<CalendarFeedRow>> {
        self.s.get_json(T::CalendarFeeds, user.as_bytes())
    }

    async fn put_calendar_feed(&mut self, row: &CalendarFeedRow, old: Option<&CalendarFeedRow>) -> Result<()> {
        if let Some(old) = old {
            self.changes.remove(T::CalendarFeedsByHash, old.token_hash.as_bytes());
        }
        self.changes.put(T::CalendarFeedsByHash, row.token_hash.as_bytes(), row.user_id.as_bytes().to_vec());
        self.changes.put_json(T::CalendarFeeds, row.user_id.as_bytes(), row)
    }

    async fn remove_calendar_feed(&mut self, row: &CalendarFeedRow) -> Result<()> {
        self.changes.remove(T::CalendarFeedsByHash, row.token_hash.as_bytes());
        self.changes.remove(T::CalendarFeeds, row.user_id.as_bytes());
        Ok(())
    }

    async fn grant(&mut self, id: Uuid) -> Result<Option<GrantRow>> {
        self.s.get_json(T::Grants, id.as_bytes())
    }

    async fn put_grant(&mut self, row: &GrantRow) -> Result<()> {
        let key = [keys::pair(row.actor_id, row.patient_id).as_slice(), row.id.as_bytes()].concat();
        self.changes.put(T::GrantsByActor, key, Vec::new());
        self.changes.put_json(T::Grants, row.id.as_bytes(), row)
    }

    async fn grants_of(&mut self, actor: Uuid, patient: Uuid) -> Result<Vec<GrantRow>> {
        let mut out = Vec::new();
        // Grant ids are v7: the newest sorts last.
        for entry in self.s.tree(T::GrantsByActor).scan_prefix(keys::pair(actor, patient)).rev() {
            let (key, _) = entry?;
            if let Some(id) = keys::trailing_id(&key)
                && let Some(g) = self.grant(id).await?
            {
                out.push(g);
            }
        }
        Ok(out)
    }

    async fn unreviewed_grants(&mut self, limit: usize) -> Result<Vec<GrantRow>> {
        // Grants are few (emergencies), so a scan in id (= time) order is enough.
        let mut out = Vec::new();
        for entry in self.s.tree(T::Grants).iter() {
            let (_, value) = entry?;
            let g: GrantRow = super::decode(&value)?;
            if g.reviewed_at.is_none() {
                out.push(g);
                if out.len() == limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    async fn mfa(&mut self, user: Uuid) -> Result<Option<MfaRow>> {
        self.s.get_json(T::Mfa, user.as_bytes())
    }

    async fn put_mfa(&mut self, row: &MfaRow) -> Result<()> {
        self.changes.put_json(T::Mfa, row.user_id.as_bytes(), row)
    }

    async fn remove_mfa(&mut self, user: Uuid) -> Result<()> {
        self.changes.remove(T::Mfa, user.as_bytes());
        Ok(())
    }

    async fn mfa_challenge(&mut self, hash: &str) -> Result<Option<MfaChallengeRow>> {
        self.s.get_json(T::MfaChallenges, hash)
    }

    async fn put_mfa_challenge(&mut self, hash: &str, row: &MfaChallengeRow) -> Result<()> {
        self.changes.put_json(T::MfaChallenges, hash, row)
    }

    async fn remove_mfa_challenge(&mut self, hash: &str) -> Result<()> {
        self.changes.remove(T::MfaChallenges, hash);
        Ok(())
    }
}
