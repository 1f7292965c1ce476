//! Logins, tokens, passwords and user administration.

use jiff::{SignedDuration, Timestamp};
use uuid::Uuid;

use healthsynx_shared::api::*;
use healthsynx_shared::validate::{self, Errors, MAX_SHORT_TEXT};
use healthsynx_shared::{Department, Outcome, Role, User};

use super::{Caller, Pager, State, limit};
use crate::audit::{Action, Actor, Draft};
use crate::crypto::token::{AUDIENCE, Claims, ISSUER, TokenType};
use crate::crypto::{password, random_token, sha256_hex};
use crate::error::{Error, Result};
use crate::policy::{self, Principal};
use crate::store::{RefreshFamily, ResetTokenRow, Txn, UserRow};

/// How long an admin-issued reset (or activation) token lives.
pub const RESET_TOKEN_TTL: SignedDuration = SignedDuration::from_hours(1);

pub(crate) fn bad_credentials() -> Error {
    Error::Unauthorized("invalid email or password".into())
}

/// A `429` with `Retry-After`.
pub fn throttled(wait: std::time::Duration, detail: &str) -> Error {
    Error::TooManyRequests { retry_after_secs: crate::throttle::retry_after_secs(wait), detail: detail.to_owned() }
}

pub(crate) fn token_ended() -> Error {
    Error::Unauthorized("invalid or expired token".into())
}

/// Turns a bearer token into the caller, checking the account is still
/// active, the token not ended by a password change, and its login not
/// ended by a logout (every request: both reads are cached by the store and
/// the caches are emptied by the writes that end them).
pub async fn authenticate(st: &State, bearer: &str) -> Result<Principal> {
    let claims = st.tokens.verify(bearer, TokenType::Access)?;
    let user = st.store.user(claims.sub).await?.ok_or_else(token_ended)?;
    if !user.active || user.token_version != claims.ver {
        return Err(token_ended());
    }
    // A token without a login (issued before logins were named in access
    // tokens) lives at most one access lifetime; it is refused all the same.
    let sid = claims.sid.ok_or_else(token_ended)?;
    if !st.store.login_live(sid, user.id, Timestamp::now()).await? {
        return Err(token_ended());
    }
    principal_of(st, &user).await
}

/// The principal an account acts as: a patient with their profile, staff with their department.
pub async fn principal_of(st: &State, user: &UserRow) -> Result<Principal> {
    let patient_id =
        if user.role == Role::Patient { st.store.read().await?.patient_id_of_user(user.id).await? } else { None };
    Principal::of(user.id, user.role, user.department.clone(), patient_id)
        .ok_or_else(|| Error::Forbidden("this account lacks what its role needs; ask an administrator".into()))
}

/// Which login a token belongs to: a refresh token names its family, an
/// access token its session (the same id).
enum Login {
    Family(Uuid),
    Session(Uuid),
}

fn claims(user: &UserRow, typ: TokenType, ttl: u64, login: Login, jti: Uuid) -> Claims {
    let (fam, sid) = match login {
        Login::Family(id) => (Some(id), None),
        Login::Session(id) => (None, Some(id)),
    };
    let now = Timestamp::now().as_second();
    Claims {
        sub: user.id,
        role: user.role,
        dept: user.department.clone(),
        iat: now,
        nbf: None,
        exp: now + ttl as i64,
        jti,
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        typ,
        ver: user.token_version,
        fam,
        sid,
    }
}

/// The tokens of a login just begun or refreshed.
pub(crate) fn token_pair(st: &State, user: &UserRow, family: &RefreshFamily) -> Result<TokenPair> {
    let access = claims(user, TokenType::Access, st.config.access_ttl, Login::Session(family.id), Uuid::now_v7());
    let refresh = claims(user, TokenType::Refresh, st.config.refresh_ttl, Login::Family(family.id), family.current_jti);
    Ok(TokenPair {
        access: st.tokens.sign(&access)?,
        refresh: st.tokens.sign(&refresh)?,
        token_type: "Bearer".into(),
        access_expires_in: st.config.access_ttl,
        user: user.to_user(),
    })
}

/// A new login (refresh family) of `user`, not yet written.
pub(crate) fn new_family(st: &State, user: &UserRow, addr: Option<&str>, user_agent: Option<&str>) -> RefreshFamily {
    let now = Timestamp::now();
    RefreshFamily {
        id: Uuid::now_v7(),
        user_id: user.id,
        current_jti: Uuid::now_v7(),
        revoked: false,
        expires_at: now + SignedDuration::from_secs(st.config.refresh_ttl as i64),
        created_at: Some(now),
        last_used_at: Some(now),
        client_addr: addr.map(str::to_owned),
        user_agent: user_agent.map(agent_of),
    }
}

/// `POST /api/auth/jwt/create/`: unknown email and wrong password answer
/// alike. A right password of an account with a second factor (or whose
/// role needs one) answers with an `mfa_token` instead of tokens; its
/// failures are forgiven only once the code is right, so guessing codes
/// counts toward the same lockout as guessing passwords.
pub async fn login(st: &State, req: LoginRequest, addr: Option<&str>, user_agent: Option<&str>) -> Result<LoginAnswer> {
    let email = req.email.trim();
    let ip = addr.and_then(|a| a.parse().ok());
    let row = st.store.read().await?.user_by_email(email).await?;
    let actor =
        Actor { id: row.as_ref().map(|r| r.id), role: row.as_ref().map(|r| r.role), addr: addr.map(str::to_owned) };
    // Checked before the hash: a locked account costs the server nothing to refuse.
    if let Some(wait) = st.throttle.login_wait(&st.store, email, ip).await? {
        tracing::warn!(user = ?actor.id, "login refused: locked out after repeated failures");
        st.store
            .append_audit([Draft::new(&actor, Action::AuthLoginThrottled, "user", actor.id).outcome(Outcome::Denied)])
            .await?;
        return Err(throttled(wait, "too many failed logins; try again later"));
    }
    let ok = password::verify(row.as_ref().and_then(|r| r.password_hash.clone()), req.password).await?;
    let user = match row {
        Some(u) if ok && u.active => u,
        _ => {
            let lockout = st.throttle.login_failed(&st.store, email, ip).await?;
            tracing::info!(user = ?actor.id, "login failed");
            let mut drafts = vec![Draft::new(&actor, Action::AuthLogin, "user", actor.id).outcome(Outcome::Failure)];
            if let Some(lock) = lockout {
                tracing::warn!(user = ?actor.id, seconds = lock.as_secs(), "login locked out");
                drafts.push(Draft::new(&actor, Action::AuthLockout, "user", actor.id).outcome(Outcome::Denied));
            }
            st.store.append_audit(drafts).await?;
            return Err(bad_credentials());
        }
    };
    if let Some(step) = super::mfa::second_step(st, &user, &actor).await? {
        return Ok(step);
    }
    st.throttle.login_succeeded(&st.store, email).await?;
    tracing::info!(user = %user.id, "login");
    let family = new_family(st, &user, addr, user_agent);
    let mut tx = st.store.begin().await?;
    tx.put_refresh_family(&family).await?;
    tx.audit(Draft::new(&actor, Action::AuthLogin, "user", Some(user.id)));
    tx.commit().await?;
    Ok(LoginAnswer::Tokens(Box::new(token_pair(st, &user, &family)?)))
}

/// A `User-Agent` as a session list shows it: at most 200 characters, no control characters.
pub(crate) fn agent_of(raw: &str) -> String {
    raw.chars().filter(|c| !c.is_control()).take(200).collect()
}

/// `POST /api/auth/jwt/refresh/`: rotates; a reused token revokes its family.
pub async fn refresh(
    st: &State,
    req: RefreshRequest,
    addr: Option<&str>,
    user_agent: Option<&str>,
) -> Result<TokenPair> {
    let claims = st.tokens.verify(&req.refresh, TokenType::Refresh)?;
    let fam_id = claims.fam.ok_or_else(token_ended)?;
    let actor = Actor { id: Some(claims.sub), role: Some(claims.role), addr: addr.map(str::to_owned) };
    enum Step {
        Rotated(Box<(UserRow, RefreshFamily)>),
        Reused,
        Ended,
    }
    let mut tx = st.store.begin().await?;
    let step = match tx.refresh_family(fam_id).await? {
        None => Step::Ended,
        Some(mut family) => {
            let user = tx.user(claims.sub).await?;
            let live = user.as_ref().is_some_and(|u| u.active && u.token_version == claims.ver);
            if family.revoked || family.user_id != claims.sub || !live {
                tx.audit(Draft::new(&actor, Action::AuthRefresh, "user", Some(claims.sub)).outcome(Outcome::Failure));
                Step::Ended
            } else if family.current_jti != claims.jti {
                family.revoked = true;
                tx.put_refresh_family(&family).await?;
                tracing::warn!(user = %claims.sub, "a used refresh token was presented again; the login is revoked");
                tx.audit(
                    Draft::new(&actor, Action::AuthRefreshReuse, "user", Some(claims.sub)).outcome(Outcome::Denied),
                );
                Step::Reused
            } else {
                family.current_jti = Uuid::now_v7();
                family.last_used_at = Some(Timestamp::now());
                family.client_addr = addr.map(str::to_owned);
                family.user_agent = user_agent.map(agent_of);
                tx.put_refresh_family(&family).await?;
                tx.audit(Draft::new(&actor, Action::AuthRefresh, "user", Some(claims.sub)));
                user.map(|u| Step::Rotated(Box::new((u, family)))).unwrap_or(Step::Ended)
            }
        }
    };
    tx.commit().await?;
    match step {
        Step::Rotated(rotated) => token_pair(st, &rotated.0, &rotated.1),
        Step::Reused => Err(Error::Unauthorized("refresh token was already used; this login has been ended".into())),
        Step::Ended => Err(token_ended()),
    }
}

/// `POST /api/auth/jwt/verify/`: whether an access token is good right now.
pub async fn verify(st: &State, req: VerifyRequest) -> Result<()> {
    authenticate(st, &req.token).await.map(|_| ())
}

/// `POST /api/auth/logout/`: ends the login the refresh token belongs to.
pub async fn logout(st: &State, who: &Caller<'_>, req: RefreshRequest) -> Result<()> {
    let claims = st.tokens.verify(&req.refresh, TokenType::Refresh)?;
    if claims.sub != who.who.user_id() {
        return Err(Error::invalid("refresh", "is not a refresh token of yours"));
    }
    let fam_id = claims.fam.ok_or_else(token_ended)?;
    let mut tx = st.store.begin().await?;
    if let Some(mut family) = tx.refresh_family(fam_id).await? {
        family.revoked = true;
        tx.put_refresh_family(&family).await?;
    }
    tx.audit(Draft::new(&who.actor(), Action::AuthLogout, "user", Some(who.who.user_id())));
    Ok(tx.commit().await?)
}

/// The strength rules: basics, then zxcvbn score ≥ 3 with the user's own
/// email, name and username as things a password must not be close to; and
/// with the user's own words taken out, what is left must pass on its own.
pub fn check_password(pw: &str, email: &str, name: &str, username: &str) -> Result<()> {
    validate::password_basics(pw).map_err(|m| Error::invalid("new_password", m))?;
    let words = own_words(email, name, username);
    let mut inputs: Vec<&str> = words.iter().map(String::as_str).collect();
    let whole = [email, name, username].map(str::to_lowercase);
    inputs.extend(whole.iter().map(String::as_str));
    // zxcvbn scores reordered or decorated own words ("JohnSmith!2024",
    // "smithjohn5678") as strong: digits and symbols around a name look
    // random to it. Judge the letters and digits left without them alone
    // (separators and symbols between the words earn nothing).
    let lower = pw.to_lowercase();
    let rest = without_words(&lower, &words);
    if rest != lower && !strong(&rest.chars().filter(|c| c.is_alphanumeric()).collect::<String>(), &inputs) {
        return Err(Error::invalid("new_password", "is too close to your name, email or username"));
    }
    let estimate = zxcvbn::zxcvbn(pw, &inputs);
    if u8::from(estimate.score()) < 3 {
        let hint = estimate
            .feedback()
            .and_then(|f| f.warning().map(|w| w.to_string()))
            .unwrap_or_else(|| "it is too easy to guess".into());
        return Err(Error::invalid("new_password", format!("is too weak or too close to your name or email: {hint}")));
    }
    Ok(())
}

/// The words (three characters or more) of the user's name, email and
/// username, lowercased, longest first so that "johnson" goes before "john".
fn own_words(email: &str, name: &str, username: &str) -> Vec<String> {
    let mut words: Vec<String> = [email, name, username]
        .iter()
        .flat_map(|s| s.split(|c: char| !c.is_alphanumeric()))
        .filter(|w| w.chars().count() >= 3)
        .map(str::to_lowercase)
        .collect();
    words.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    words.dedup();
    words
}

/// `lower` with every occurrence of `words` replaced by a space (so the
/// pieces around a word do not join into a new one).
fn without_words(lower: &str, words: &[String]) -> String {
    words.iter().fold(lower.to_owned(), |rest, w| rest.replace(w.as_str(), " "))
}

fn strong(s: &str, inputs: &[&str]) -> bool {
    !s.is_empty() && u8::from(zxcvbn::zxcvbn(s, inputs).score()) >= 3
}

fn rename_field(e: Error, field: &str) -> Error {
    match e {
        Error::Unprocessable(mut errs) => {
            for err in &mut errs {
                err.field = field.to_owned();
            }
            Error::Unprocessable(errs)
        }
        other => other,
    }
}

/// `POST /api/auth/password/change/`: ends every older token of the user.
pub async fn change_password(st: &State, who: &Caller<'_>, req: PasswordChange) -> Result<()> {
    let user = st.store.user(who.who.user_id()).await?.ok_or_else(token_ended)?;
    if !password::verify(user.password_hash.clone(), req.current_password).await? {
        st.store
            .append_audit([
                Draft::new(&who.actor(), Action::AuthPasswordChange, "user", Some(user.id)).outcome(Outcome::Failure)
            ])
            .await?;
        return Err(Error::invalid("current_password", "is not your current password"));
    }
    check_password(&req.new_password, &user.email, &user.full_name, &user.username)?;
    let hash = password::hash(req.new_password).await?;
    let mut tx = st.store.begin().await?;
    let mut row = tx.user(user.id).await?.ok_or_else(token_ended)?;
    row.password_hash = Some(hash);
    row.token_version += 1;
    tx.put_user(&row, Some(&user)).await?;
    tx.audit(Draft::new(&who.actor(), Action::AuthPasswordChange, "user", Some(user.id)));
    Ok(tx.commit().await?)
}

/// `POST /api/auth/password/reset/confirm/`: uses an admin-issued token once.
pub async fn confirm_reset(st: &State, req: PasswordResetConfirm, addr: Option<&str>) -> Result<()> {
    let hash = sha256_hex(req.token.as_bytes());
    let invalid = || Error::Unauthorized("reset token is invalid, used or expired".into());
    let token = st.store.read().await?.reset_token(&hash).await?;
    let token = token.filter(|t| t.expires_at > Timestamp::now()).ok_or_else(invalid)?;
    let user = st.store.user(token.user_id).await?.ok_or_else(invalid)?;
    check_password(&req.new_password, &user.email, &user.full_name, &user.username)?;
    let pw_hash = password::hash(req.new_password).await?;
    let actor = Actor { id: Some(user.id), role: Some(user.role), addr: addr.map(str::to_owned) };
    let mut tx = st.store.begin().await?;
    // Re-checked in the transaction: the token is single-use even under a race.
    tx.reset_token(&hash).await?.ok_or_else(invalid)?;
    tx.remove_reset_token(&hash).await?;
    let mut row = tx.user(user.id).await?.ok_or_else(invalid)?;
    row.password_hash = Some(pw_hash);
    row.token_version += 1;
    tx.put_user(&row, Some(&user)).await?;
    tx.audit(Draft::new(&actor, Action::AuthPasswordReset, "user", Some(user.id)));
    Ok(tx.commit().await?)
}

// ---- user administration ----

/// The username for a new account: initial + last name (`jdoe`), then `jdoe2`, …
pub fn username_base(full_name: &str, email: &str) -> String {
    let ascii = |s: &str| s.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_lowercase();
    let parts: Vec<&str> = full_name.split_whitespace().collect();
    let base = match parts.as_slice() {
        [] => String::new(),
        [one] => ascii(one),
        [first, .., last] => {
            format!("{}{}", ascii(first).chars().next().map(String::from).unwrap_or_default(), ascii(last))
        }
    };
    if base.len() >= 2 {
        return base.chars().take(24).collect();
    }
    let local: String = ascii(email.split('@').next().unwrap_or_default()).chars().take(24).collect();
    if local.len() >= 2 { local } else { "user".to_owned() }
}

/// Picks a free username inside the write transaction.
pub async fn free_username(tx: &mut Txn<'_>, wanted: Option<&str>, full_name: &str, email: &str) -> Result<String> {
    if let Some(name) = wanted {
        let ok = (2..=32).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !ok {
            return Err(Error::invalid("username", "must be 2–32 letters, digits, dots, dashes or underscores"));
        }
        if tx.username_taken(name).await? {
            return Err(Error::Conflict(format!("username `{name}` is taken")));
        }
        return Ok(name.to_owned());
    }
    let base = username_base(full_name, email);
    for n in 1u32.. {
        let candidate = if n == 1 { base.clone() } else { format!("{base}{n}") };
        if !tx.username_taken(&candidate).await? {
            return Ok(candidate);
        }
    }
    Err(Error::Internal(anyhow::anyhow!("no free username")))
}

/// Checks the fields every new account needs.
pub async fn check_account_fields(
    st: &State,
    email: &str,
    full_name: &str,
    role: Role,
    department: Option<&str>,
) -> Result<()> {
    let mut errors = Errors::default();
    // Request bodies bring an `Email` already; the admin command line does not.
    errors.check("email", validate::email(email));
    errors.check("full_name", validate::text(full_name, MAX_SHORT_TEXT));
    match (role.needs_department(), department) {
        (true, None) => errors.check("department", Err(format!("is required for a {role}"))),
        (false, Some(_)) => errors.check("department", Err(format!("is only for doctors and nurses, not a {role}"))),
        (true, Some(d)) if st.store.read().await?.department(d).await?.is_none() => {
            errors.check("department", Err(format!("`{d}` is not a department")))
        }
        _ => {}
    }
    errors.finish().map_err(Error::from)
}

/// A new account row (not yet written).
pub struct NewAccount<'a> {
    pub email: &'a str,
    pub full_name: &'a str,
    pub role: Role,
    pub department: Option<&'a str>,
    pub username: Option<&'a str>,
    pub password_hash: Option<String>,
}

/// Stages a new account inside a write; `409` on a taken email.
pub async fn stage_account(tx: &mut Txn<'_>, a: NewAccount<'_>) -> Result<UserRow> {
    if tx.user_by_email(a.email).await?.is_some() {
        return Err(Error::Conflict(format!("an account with email `{}` exists", a.email)));
    }
    let row = UserRow {
        id: Uuid::now_v7(),
        email: a.email.trim().to_owned(),
        username: free_username(tx, a.username, a.full_name, a.email).await?,
        full_name: a.full_name.trim().to_owned(),
        role: a.role,
        department: a.department.map(str::to_owned),
        active: true,
        created_at: Timestamp::now(),
        password_hash: a.password_hash,
        token_version: 0,
    };
    tx.put_user(&row, None).await?;
    Ok(row)
}

/// Issues a reset token for `user` inside a write and returns its text.
pub async fn stage_reset_token(tx: &mut Txn<'_>, user: Uuid) -> Result<ResetToken> {
    let token = random_token();
    let expires_at = Timestamp::now() + RESET_TOKEN_TTL;
    tx.put_reset_token(&sha256_hex(token.as_bytes()), &ResetTokenRow { user_id: user, expires_at }).await?;
    Ok(ResetToken { token, expires_at })
}

/// `POST /api/users` (admin). Patients are registered through `/api/patients`.
pub async fn create_user(st: &State, who: &Caller<'_>, req: NewUser) -> Result<User> {
    policy::administer(who.who)?;
    if req.role == Role::Patient {
        return Err(Error::invalid("role", "patients are registered with POST /api/patients"));
    }
    check_account_fields(st, &req.email, &req.full_name, req.role, req.department.as_deref()).await?;
    let hash = match &req.password {
        Some(pw) => {
            // Without a wanted username, the one it will most likely get.
            let name = req.username.clone().unwrap_or_else(|| username_base(&req.full_name, &req.email));
            check_password(pw, &req.email, &req.full_name, &name).map_err(|e| rename_field(e, "password"))?;
            Some(password::hash(pw.clone()).await?)
        }
        None => None,
    };
    let mut tx = st.store.begin().await?;
    let new = NewAccount {
        email: &req.email,
        full_name: &req.full_name,
        role: req.role,
        department: req.department.as_deref(),
        username: req.username.as_deref(),
        password_hash: hash,
    };
    let row = stage_account(&mut tx, new).await?;
    tx.audit(Draft::new(&who.actor(), Action::UserCreate, "user", Some(row.id)));
    tx.commit().await?;
    Ok(row.to_user())
}

/// `GET /api/users` (admin) with filters.
pub async fn list_users(st: &State, who: &Caller<'_>, q: UserQuery) -> Result<Page<User>> {
    policy::administer(who.who)?;
    let needle = q.q.as_deref().map(str::to_lowercase);
    let wanted = |u: &UserRow| {
        q.role.is_none_or(|r| r == u.role)
            && q.department.as_deref().is_none_or(|d| u.department.as_deref() == Some(d))
            && needle.as_deref().is_none_or(|n| {
                u.full_name.to_lowercase().contains(n) || u.email.to_lowercase().contains(n) || u.username.contains(n)
            })
    };
    let mut pager = Pager::new(super::cursor(q.cursor.as_deref())?, limit(q.limit)?);
    let mut tx = st.store.read().await?;
    loop {
        let rows = tx.users(pager.at(), pager.batch()).await?;
        let n = rows.len();
        for (at, u) in rows {
            if !pager.push(at, wanted(&u).then(|| u.to_user())) {
                break;
            }
        }
        if pager.ended(n) {
            return Ok(pager.finish());
        }
    }
}

/// `GET /api/users/{id}` (admin).
pub async fn get_user(st: &State, who: &Caller<'_>, id: Uuid) -> Result<User> {
    policy::administer(who.who)?;
    let row = st.store.user(id).await?.ok_or(Error::NotFound)?;
    st.store.append_audit([Draft::new(&who.actor(), Action::UserRead, "user", Some(id))]).await?;
    Ok(row.to_user())
}

/// `PATCH /api/users/{id}` (admin).
pub async fn patch_user(st: &State, who: &Caller<'_>, id: Uuid, patch: UserPatch) -> Result<User> {
    policy::administer(who.who)?;
    let mut tx = st.store.begin().await?;
    let old = tx.user(id).await?.ok_or(Error::NotFound)?;
    let mut row = old.clone();
    if let Some(e) = &patch.email {
        row.email = e.trim().to_owned();
    }
    if let Some(n) = &patch.full_name {
        row.full_name = n.trim().to_owned();
    }
    if let Some(d) = &patch.department {
        row.department = Some(d.to_string());
    }
    check_account_fields(st, &row.email, &row.full_name, row.role, row.department.as_deref()).await?;
    if row.email.to_lowercase() != old.email.to_lowercase() && tx.user_by_email(&row.email).await?.is_some() {
        return Err(Error::Conflict(format!("an account with email `{}` exists", row.email)));
    }
    tx.put_user(&row, Some(&old)).await?;
    tx.audit(Draft::new(&who.actor(), Action::UserUpdate, "user", Some(id)));
    tx.commit().await?;
    Ok(row.to_user())
}

/// `POST /api/users/{id}/deactivate` and `/activate` (admin). Deactivation
/// ends every token the user holds.
pub async fn set_active(st: &State, who: &Caller<'_>, id: Uuid, active: bool) -> Result<User> {
    policy::administer(who.who)?;
    if !active && id == who.who.user_id() {
        return Err(Error::Conflict("you cannot deactivate your own account".into()));
    }
    let mut tx = st.store.begin().await?;
    let old = tx.user(id).await?.ok_or(Error::NotFound)?;
    let mut row = old.clone();
    if row.active != active {
        row.active = active;
        row.token_version += 1;
        tx.put_user(&row, Some(&old)).await?;
    }
    let action = if active { Action::UserActivate } else { Action::UserDeactivate };
    tx.audit(Draft::new(&who.actor(), action, "user", Some(id)));
    tx.commit().await?;
    Ok(row.to_user())
}

/// `POST /api/users/{id}/password-reset` (admin): a single-use token for 1 h.
pub async fn issue_reset(st: &State, who: &Caller<'_>, id: Uuid) -> Result<ResetToken> {
    policy::administer(who.who)?;
    let mut tx = st.store.begin().await?;
    tx.user(id).await?.ok_or(Error::NotFound)?;
    let token = stage_reset_token(&mut tx, id).await?;
    tx.audit(Draft::new(&who.actor(), Action::UserPasswordResetIssue, "user", Some(id)));
    tx.commit().await?;
    Ok(token)
}

/// `GET /api/me`
pub async fn me(st: &State, who: &Caller<'_>) -> Result<Me> {
    let user = st.store.user(who.who.user_id()).await?.ok_or_else(token_ended)?.to_user();
    let patient = match who.who.patient_id() {
        Some(id) => Some(super::patients::view(st, who.who, id).await?),
        None => None,
    };
    Ok(Me { user, patient })
}

// ---- departments ----

/// `GET /api/departments`
pub async fn departments(st: &State) -> Result<Vec<Department>> {
    Ok(st.store.read().await?.departments().await?)
}

/// `POST /api/departments` (admin).
pub async fn create_department(st: &State, who: &Caller<'_>, req: NewDepartment) -> Result<Department> {
    policy::administer(who.who)?;
    let mut errors = Errors::default();
    errors.check("name", validate::text(&req.name, MAX_SHORT_TEXT));
    errors.finish()?;
    let dept = Department { code: req.code.into(), name: req.name.trim().to_owned() };
    let mut tx = st.store.begin().await?;
    if tx.department(&dept.code).await?.is_some() {
        return Err(Error::Conflict(format!("department `{}` exists", dept.code)));
    }
    tx.put_department(&dept).await?;
    tx.audit(Draft::new(&who.actor(), Action::DepartmentCreate, "department", None));
    tx.commit().await?;
    Ok(dept)
}

/// `healthsynx-server create-admin`: the first account of a fresh install.
pub async fn create_admin(st: &State, email: &str, full_name: &str, pw: &str) -> Result<User> {
    check_account_fields(st, email, full_name, Role::Admin, None).await?;
    check_password(pw, email, full_name, &username_base(full_name, email)).map_err(|e| rename_field(e, "password"))?;
    let hash = password::hash(pw.to_owned()).await?;
    let actor = Actor { id: None, role: None, addr: Some("cli".into()) };
    let mut tx = st.store.begin().await?;
    let new =
        NewAccount { email, full_name, role: Role::Admin, department: None, username: None, password_hash: Some(hash) };
    let row = stage_account(&mut tx, new).await?;
    tx.audit(Draft::new(&actor, Action::UserCreate, "user", Some(row.id)));
    tx.commit().await?;
    Ok(row.to_user())
}

/// `POST /api/admin/backup` (admin): a consistent sealed snapshot of the
/// running store into the backup directory.
pub async fn backup(st: &State, who: &Caller<'_>) -> Result<BackupDone> {
    policy::administer(who.who)?;
    let stamp = Timestamp::now().strftime("%Y%m%dT%H%M%SZ").to_string();
    let name = format!("healthsynx-{stamp}-{}.hsbak", &Uuid::now_v7().simple().to_string()[24..]);
    let path = st.config.backup_dir.join(&name);
    st.store.append_audit([Draft::new(&who.actor(), Action::StoreBackup, "store", None)]).await?;
    // Writes wait while it copies; reads go on.
    let summary = st.store.backup_to(&st.sealer, &path).await?;
    tracing::info!(file = %path.display(), bytes = summary.bytes, "backup written");
    Ok(BackupDone { file: path.display().to_string(), bytes: summary.bytes, entries: summary.entries })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_made_of_the_users_own_words_is_refused_in_any_order_case_or_decoration() {
        let (email, name, username) = ("john.smith@clinic.example", "John Smith", "jsmith");
        for pw in [
            "johnsmith1234",
            "JohnSmith!2024",
            "smithjohn5678",
            "Smith.John#7788",
            "SMITH_john_2024!!",
            "jsmith-jsmith-2024",
            "john.smith@clinic.example",
        ] {
            assert!(check_password(pw, email, name, username).is_err(), "{pw} was accepted");
        }
        for pw in ["umbrella-falcon-ginger-93", "John loves quiet purple kites", "Smith-tundra-velvet-ochre"] {
            assert!(check_password(pw, email, name, username).is_ok(), "{pw} was refused");
        }
    }
}
