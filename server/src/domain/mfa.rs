//! Second factors: TOTP (RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps,
//! one step of skew either way) with single-use recovery codes, the code
//! step of a login, and the enrolment an account whose role needs a factor
//! must finish before it gets tokens.
//!
//! A code is accepted once: the factor keeps the newest step a code was
//! accepted for, and refuses codes of that step and older ones. Pending
//! logins are random tokens stored by their hash, like reset tokens.

use jiff::{SignedDuration, Timestamp};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Builder, Secret, Totp};
use uuid::Uuid;

use healthsynx_shared::Outcome;
use healthsynx_shared::api::*;

use super::accounts::{new_family, throttled, token_ended, token_pair};
use super::{Caller, State};
use crate::audit::{Action, Actor, Draft};
use crate::crypto::{random_token, sha256_hex};
use crate::error::{Error, Result};
use crate::policy::Principal;
use crate::store::{MfaChallengeRow, MfaPurpose, MfaRow, UserRow};

/// The issuer an authenticator app shows next to the account.
const ISSUER: &str = "Health Synx";
/// Seconds of one TOTP step.
const STEP: u64 = 30;
/// Recovery codes issued at confirmation.
const RECOVERY_CODES: usize = 10;
/// How long an enrolment token lives: long enough to set up an app.
const ENROL_TOKEN_TTL: SignedDuration = SignedDuration::from_mins(15);

fn internal(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Internal(anyhow::anyhow!("{what}: {e}"))
}

/// The TOTP of a secret, named for `user` in authenticator apps.
fn totp(secret: Vec<u8>, user: &UserRow) -> Result<Totp> {
    // An otpauth label may not hold a colon; emails do not, usernames never.
    let account = if user.email.contains(':') { user.username.clone() } else { user.email.clone() };
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(STEP)
        .with_secret(secret)
        .with_issuer(Some(ISSUER))
        .with_account_name(account)
        .build()
        .map_err(|e| internal("totp", e))
}

fn factor_totp(st: &State, row: &MfaRow, user: &UserRow) -> Result<Totp> {
    let base32 = st.sealer.open(&row.secret_sealed, user.id.as_bytes())?;
    let secret = Secret::try_from_base32(base32).map_err(|e| internal("totp secret", e))?;
    totp(secret.as_ref().to_vec(), user)
}

/// The step `code` is right for, newer than `last_step`, around `now`.
fn totp_step(totp: &Totp, code: &str, last_step: u64, now: u64) -> Option<u64> {
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = now / STEP;
    (current.saturating_sub(1)..=current + 1)
        .filter(|step| *step > last_step)
        .find(|step| totp.generate(step * STEP).to_string().as_bytes().ct_eq(code.as_bytes()).into())
}

/// A recovery code as stored: lowercase, no spaces or dashes.
fn recovery_hash(code: &str) -> String {
    let plain: String = code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect();
    sha256_hex(plain.as_bytes())
}

/// Ten codes of 80 random bits each, as `abcd-efgh-ijkl-mnop`.
fn new_recovery_codes() -> Vec<String> {
    use rand::RngCore;
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; 10];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            let text = Secret::from(bytes.to_vec()).to_base32().to_lowercase();
            text.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join("-")
        })
        .collect()
}

/// What a code is for a factor: right for a TOTP step, or one of the unused recovery codes.
enum Accepted {
    Step(u64),
    Recovery(usize),
}

fn accept(totp: &Totp, row: &MfaRow, code: &str, allow_recovery: bool) -> Option<Accepted> {
    let code = code.trim();
    let now = Timestamp::now().as_second().max(0) as u64;
    if let Some(step) = totp_step(totp, code, row.last_step, now) {
        return Some(Accepted::Step(step));
    }
    if !allow_recovery {
        return None;
    }
    let hash = recovery_hash(code);
    row.recovery_hashes.iter().position(|h| h.as_bytes().ct_eq(hash.as_bytes()).into()).map(Accepted::Recovery)
}

fn spend(row: &mut MfaRow, accepted: Accepted) {
    match accepted {
        Accepted::Step(step) => row.last_step = step,
        Accepted::Recovery(i) => {
            row.recovery_hashes.remove(i);
        }
    }
}

/// After a right password: the code step of the login when the account has
/// a factor, the enrolment when its role needs one it lacks, else nothing.
pub async fn second_step(st: &State, user: &UserRow, actor: &Actor) -> Result<Option<LoginAnswer>> {
    let factor = st.store.read().await?.mfa(user.id).await?.filter(|m| m.confirmed);
    let purpose = match factor {
        Some(_) => MfaPurpose::Verify,
        None if st.config.mfa_required_roles.contains(&user.role) => MfaPurpose::Enrol,
        None => return Ok(None),
    };
    let ttl = match purpose {
        MfaPurpose::Verify => SignedDuration::from_secs(st.config.mfa_token_ttl as i64),
        MfaPurpose::Enrol => ENROL_TOKEN_TTL,
    };
    let token = random_token();
    let row = MfaChallengeRow { user_id: user.id, purpose, expires_at: Timestamp::now() + ttl };
    let mut tx = st.store.begin().await?;
    tx.put_mfa_challenge(&sha256_hex(token.as_bytes()), &row).await?;
    tx.audit(Draft::new(actor, Action::AuthMfaChallenge, "user", Some(user.id)));
    tx.commit().await?;
    tracing::info!(user = %user.id, ?purpose, "login waits for a second factor");
    Ok(Some(match purpose {
        MfaPurpose::Verify => LoginAnswer::MfaRequired(MfaRequired { mfa_required: true, mfa_token: token }),
        MfaPurpose::Enrol => {
            LoginAnswer::EnrolmentRequired(EnrolmentRequired { mfa_enrolment_required: true, mfa_token: token })
        }
    }))
}

fn bad_code() -> Error {
    Error::Unauthorized("invalid, used or expired code or mfa_token".into())
}

/// Counts a failed code toward the account's (or, without one, the
/// address's) lockout, audits it, and gives the `401`. A lockout also ends
/// the pending login, so guessing goes on only after the password again.
async fn code_failed(st: &State, actor: &Actor, user: Option<&UserRow>, hash: &str) -> Error {
    let ip = actor.addr.as_deref().and_then(|a| a.parse().ok());
    let lockout = match (user, ip) {
        (Some(u), _) => st.throttle.login_failed(&st.store, &u.email, ip).await,
        (None, Some(ip)) => st.throttle.address_failed(&st.store, ip).await,
        (None, None) => Ok(None),
    };
    let target = user.map(|u| u.id);
    let mut drafts = vec![Draft::new(actor, Action::AuthMfaVerify, "user", target).outcome(Outcome::Failure)];
    match lockout {
        Ok(Some(lock)) => {
            tracing::warn!(user = ?target, seconds = lock.as_secs(), "second factor locked out");
            drafts.push(Draft::new(actor, Action::AuthLockout, "user", target).outcome(Outcome::Denied));
            if let Ok(mut tx) = st.store.begin().await {
                let _ = tx.remove_mfa_challenge(hash).await;
                let _ = tx.commit().await;
            }
        }
        Ok(None) => {}
        Err(e) => return e.into(),
    }
    tracing::info!(user = ?target, "second factor failed");
    match st.store.append_audit(drafts).await {
        Ok(()) => bad_code(),
        Err(e) => e.into(),
    }
}

/// `POST /api/auth/mfa/verify/`: a pending login's token and a code (TOTP
/// or recovery) give the tokens; the pending login is then used up.
pub async fn verify_login(
    st: &State,
    req: MfaVerifyRequest,
    addr: Option<&str>,
    user_agent: Option<&str>,
) -> Result<TokenPair> {
    let hash = sha256_hex(req.mfa_token.as_bytes());
    let now = Timestamp::now();
    let mut actor = Actor { id: None, role: None, addr: addr.map(str::to_owned) };
    let pending = st.store.read().await?.mfa_challenge(&hash).await?;
    let user = match &pending {
        Some(p) => st.store.user(p.user_id).await?,
        None => None,
    };
    if let Some(u) = &user {
        actor.id = Some(u.id);
        actor.role = Some(u.role);
        let ip = addr.and_then(|a| a.parse().ok());
        if let Some(wait) = st.throttle.login_wait(&st.store, &u.email, ip).await? {
            st.store
                .append_audit([
                    Draft::new(&actor, Action::AuthLoginThrottled, "user", actor.id).outcome(Outcome::Denied)
                ])
                .await?;
            return Err(throttled(wait, "too many failed logins; try again later"));
        }
    }
    let live = pending.filter(|p| p.purpose == MfaPurpose::Verify && p.expires_at > now);
    let (Some(_), Some(user)) = (live, user.filter(|u| u.active)) else {
        return Err(code_failed(st, &actor, None, &hash).await);
    };
    let Some(factor) = st.store.read().await?.mfa(user.id).await?.filter(|m| m.confirmed) else {
        return Err(code_failed(st, &actor, Some(&user), &hash).await);
    };
    let totp = factor_totp(st, &factor, &user)?;
    if accept(&totp, &factor, &req.code, true).is_none() {
        return Err(code_failed(st, &actor, Some(&user), &hash).await);
    }
    let family = new_family(st, &user, addr, user_agent);
    let mut tx = st.store.begin().await?;
    // Re-read inside the write: the token and the code are single-use even under a race.
    let still = tx.mfa_challenge(&hash).await?.is_some();
    let fresh = tx.mfa(user.id).await?.filter(|m| m.confirmed);
    let accepted = fresh.and_then(|mut f| accept(&totp, &f, &req.code, true).map(|a| (spend(&mut f, a), f).1));
    let Some(factor) = accepted.filter(|_| still) else {
        drop(tx);
        return Err(code_failed(st, &actor, Some(&user), &hash).await);
    };
    tx.remove_mfa_challenge(&hash).await?;
    tx.put_mfa(&factor).await?;
    tx.put_refresh_family(&family).await?;
    tx.audit(Draft::new(&actor, Action::AuthMfaVerify, "user", Some(user.id)));
    tx.audit(Draft::new(&actor, Action::AuthLogin, "user", Some(user.id)));
    tx.commit().await?;
    st.throttle.login_succeeded(&st.store, &user.email).await?;
    tracing::info!(user = %user.id, "login with a second factor");
    token_pair(st, &user, &family)
}

/// The caller an enrolment token stands for, when `bearer` is one (a JWT
/// never is: it has dots, random tokens have none). `Ok(None)`: not an
/// enrolment token, authenticate it as an access token.
pub async fn enrolment_bearer(st: &State, bearer: &str) -> Result<Option<(Principal, String)>> {
    if bearer.contains('.') {
        return Ok(None);
    }
    let hash = sha256_hex(bearer.as_bytes());
    let pending = st.store.read().await?.mfa_challenge(&hash).await?;
    let pending = pending
        .filter(|p| p.purpose == MfaPurpose::Enrol && p.expires_at > Timestamp::now())
        .ok_or_else(token_ended)?;
    let user = st.store.user(pending.user_id).await?.filter(|u| u.active).ok_or_else(token_ended)?;
    Ok(Some((super::accounts::principal_of(st, &user).await?, hash)))
}

/// `GET /api/me/mfa`: the caller's factor, on, pending or off, and how many
/// recovery codes are left. Tells nothing a code could be made from.
pub async fn status(st: &State, who: &Caller<'_>) -> Result<MfaStatus> {
    let row = st.store.read().await?.mfa(who.who.user_id()).await?;
    let (totp, recovery_codes_left) = match row {
        None => (MfaState::Off, 0),
        Some(r) if !r.confirmed => (MfaState::Pending, 0),
        Some(r) => (MfaState::On, r.recovery_hashes.len()),
    };
    let required = st.config.mfa_required_roles.contains(&who.who.role());
    Ok(MfaStatus { totp, recovery_codes_left, required })
}

/// `POST /api/me/mfa/totp`: a new pending factor (replacing a pending one);
/// `409` when a confirmed one exists.
pub async fn begin_enrolment(st: &State, who: &Caller<'_>) -> Result<TotpEnrolment> {
    let user = st.store.user(who.who.user_id()).await?.ok_or_else(token_ended)?;
    let secret = {
        use rand::RngCore;
        let mut bytes = vec![0u8; 20];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        bytes
    };
    let totp = totp(secret, &user)?;
    let base32 = totp.secret().to_base32();
    let otpauth_url = totp.to_url().map_err(|e| internal("otpauth url", e))?;
    let row = MfaRow {
        user_id: user.id,
        secret_sealed: st.sealer.seal(&base32, user.id.as_bytes())?,
        confirmed: false,
        recovery_hashes: Vec::new(),
        last_step: 0,
        created_at: super::now(),
    };
    let mut tx = st.store.begin().await?;
    if tx.mfa(user.id).await?.is_some_and(|m| m.confirmed) {
        return Err(Error::Conflict(
            "a second factor is already set up; remove it (DELETE /api/me/mfa/totp) before enrolling another".into(),
        ));
    }
    tx.put_mfa(&row).await?;
    tx.audit(Draft::new(&who.actor(), Action::MfaEnrol, "user", Some(user.id)));
    tx.commit().await?;
    Ok(TotpEnrolment { secret: base32, otpauth_url })
}

/// `POST /api/me/mfa/totp/confirm`: a right code turns the pending factor
/// on and gives the recovery codes, once. Through an enrolment token, that
/// token is used up: the user logs in again, with a code.
pub async fn confirm(st: &State, who: &Caller<'_>, req: TotpCode, enrol_token: Option<&str>) -> Result<RecoveryCodes> {
    let user = st.store.user(who.who.user_id()).await?.ok_or_else(token_ended)?;
    let codes = new_recovery_codes();
    let mut tx = st.store.begin().await?;
    let mut row = match tx.mfa(user.id).await? {
        Some(r) if r.confirmed => return Err(Error::Conflict("the second factor is already confirmed".into())),
        Some(r) => r,
        None => return Err(Error::Conflict("no second factor is pending; start with POST /api/me/mfa/totp".into())),
    };
    let totp = factor_totp(st, &row, &user)?;
    match accept(&totp, &row, &req.code, false) {
        Some(a) => spend(&mut row, a),
        None => {
            drop(tx);
            st.store
                .append_audit([
                    Draft::new(&who.actor(), Action::MfaConfirm, "user", Some(user.id)).outcome(Outcome::Failure)
                ])
                .await?;
            return Err(Error::invalid("code", "is not the current code of this authenticator"));
        }
    }
    row.confirmed = true;
    row.recovery_hashes = codes.iter().map(|c| recovery_hash(c)).collect();
    tx.put_mfa(&row).await?;
    if let Some(hash) = enrol_token {
        tx.remove_mfa_challenge(hash).await?;
    }
    tx.audit(Draft::new(&who.actor(), Action::MfaConfirm, "user", Some(user.id)));
    tx.commit().await?;
    tracing::info!(user = %user.id, "second factor confirmed");
    Ok(RecoveryCodes { recovery_codes: codes })
}

/// `DELETE /api/me/mfa/totp`: a code (TOTP or recovery) removes the
/// factor. Wrong codes count toward the login lockout, and a locked
/// account cannot remove it either.
pub async fn remove(st: &State, who: &Caller<'_>, req: TotpCode) -> Result<()> {
    let user = st.store.user(who.who.user_id()).await?.ok_or_else(token_ended)?;
    let ip = who.addr.and_then(|a| a.parse().ok());
    if let Some(wait) = st.throttle.login_wait(&st.store, &user.email, ip).await? {
        return Err(throttled(wait, "too many failed codes; try again later"));
    }
    let row = st.store.read().await?.mfa(user.id).await?.ok_or(Error::NotFound)?;
    let ok = match row.confirmed {
        true => accept(&factor_totp(st, &row, &user)?, &row, &req.code, true).is_some(),
        // A pending factor was never on: anyone holding the session may drop it.
        false => true,
    };
    if !ok {
        st.throttle.login_failed(&st.store, &user.email, ip).await?;
        st.store
            .append_audit(
                [Draft::new(&who.actor(), Action::MfaRemove, "user", Some(user.id)).outcome(Outcome::Failure)],
            )
            .await?;
        return Err(Error::invalid("code", "is not a current or recovery code of your second factor"));
    }
    let mut tx = st.store.begin().await?;
    tx.remove_mfa(user.id).await?;
    tx.audit(Draft::new(&who.actor(), Action::MfaRemove, "user", Some(user.id)));
    tx.commit().await?;
    tracing::info!(user = %user.id, "second factor removed");
    Ok(())
}

/// A user's logins.
pub mod sessions {
    use super::*;
    use crate::policy;

    fn view(f: &crate::store::RefreshFamily, current: Option<Uuid>) -> Session {
        Session {
            id: f.id,
            created_at: f.created_at,
            last_used_at: f.last_used_at,
            expires_at: f.expires_at,
            client_addr: f.client_addr.clone(),
            user_agent: f.user_agent.clone(),
            current: current == Some(f.id),
        }
    }

    /// `GET /api/me/sessions`: the caller's live logins, newest first.
    pub async fn list(st: &State, who: &Caller<'_>, current: Option<Uuid>) -> Result<Vec<Session>> {
        let now = Timestamp::now();
        let mut live: Vec<Session> = st
            .store
            .read()
            .await?
            .refresh_families_of(who.who.user_id())
            .await?
            .iter()
            .filter(|f| !f.revoked && f.expires_at > now && f.user_id == who.who.user_id())
            .map(|f| view(f, current))
            .collect();
        live.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(live)
    }

    /// `DELETE /api/me/sessions/{id}`: ends one of the caller's logins.
    pub async fn revoke(st: &State, who: &Caller<'_>, id: Uuid) -> Result<()> {
        let mut tx = st.store.begin().await?;
        let mut family =
            tx.refresh_family(id).await?.filter(|f| f.user_id == who.who.user_id()).ok_or(Error::NotFound)?;
        if !family.revoked {
            family.revoked = true;
            tx.put_refresh_family(&family).await?;
        }
        tx.audit(Draft::new(&who.actor(), Action::SessionRevoke, "session", Some(id)));
        Ok(tx.commit().await?)
    }

    /// `POST /api/users/{id}/sessions/revoke` (admin): ends every login of a user.
    pub async fn revoke_all(st: &State, who: &Caller<'_>, user: Uuid) -> Result<()> {
        policy::administer(who.who)?;
        let mut tx = st.store.begin().await?;
        tx.user(user).await?.ok_or(Error::NotFound)?;
        for mut family in tx.refresh_families_of(user).await? {
            if !family.revoked && family.user_id == user {
                family.revoked = true;
                tx.put_refresh_family(&family).await?;
            }
        }
        tx.audit(Draft::new(&who.actor(), Action::SessionRevoke, "user", Some(user)));
        tx.commit().await?;
        tracing::info!(user = %user, "every login of a user revoked");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use healthsynx_shared::Role;

    fn user() -> UserRow {
        UserRow {
            id: Uuid::now_v7(),
            email: "ada@clinic.example".into(),
            username: "aadmin".into(),
            full_name: "Ada Admin".into(),
            role: Role::Admin,
            department: None,
            active: true,
            created_at: Timestamp::now(),
            password_hash: None,
            token_version: 0,
        }
    }

    #[test]
    fn rfc_6238_sha1_vectors_are_met() {
        // RFC 6238 appendix B, SHA-1, last six digits.
        let t = totp(b"12345678901234567890".to_vec(), &user()).unwrap();
        for (time, code) in [(59, "287082"), (1111111109, "081804"), (1234567890, "005924"), (2000000000, "279037")] {
            assert_eq!(t.generate(time).to_string(), code);
            assert_eq!(totp_step(&t, code, 0, time), Some(time / STEP));
        }
    }

    #[test]
    fn a_code_is_taken_one_step_either_way_and_only_once() {
        let t = totp(b"12345678901234567890".to_vec(), &user()).unwrap();
        let now = 1_000_000_020;
        let code = t.generate(now - STEP).to_string();
        let step = totp_step(&t, &code, 0, now).unwrap();
        assert_eq!(step, now / STEP - 1);
        assert_eq!(totp_step(&t, &code, step, now), None, "replayed");
        assert_eq!(totp_step(&t, &t.generate(now + 2 * STEP).to_string(), 0, now), None, "too far ahead");
        assert_eq!(totp_step(&t, "12345", 0, now), None);
    }

    #[test]
    fn recovery_codes_are_distinct_and_match_however_typed() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        assert_eq!(codes.iter().collect::<std::collections::HashSet<_>>().len(), RECOVERY_CODES);
        let c = &codes[0];
        assert_eq!(c.len(), 19);
        assert_eq!(recovery_hash(c), recovery_hash(&c.to_uppercase().replace('-', " ")));
    }
}
