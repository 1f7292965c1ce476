//! Sessions: a user's logins listed, one revoked, or (admin) all of them.

use healthsynx_tests::TestApp;

use crate::support::status;

#[tokio::test]
async fn two_logins_are_listed_and_revoking_one_ends_it_and_leaves_the_other() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let first = &clinic.doctor.client;
    let second = app.login(&clinic.doctor.email).await;

    let listed = first.sessions().await.unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed.iter().filter(|s| s.current).count(), 1);
    assert!(listed.iter().all(|s| s.created_at.is_some() && s.client_addr.as_deref() == Some("127.0.0.1")));
    let mine = listed.iter().find(|s| s.current).unwrap().id;
    let other = listed.iter().find(|s| !s.current).unwrap().id;
    assert_eq!(second.sessions().await.unwrap().iter().find(|s| s.current).unwrap().id, other);

    // Someone else's login is not found.
    let nurse_login = clinic.nurse.client.sessions().await.unwrap()[0].id;
    assert_eq!(status(first.revoke_session(nurse_login).await, "another user's session"), 404);

    let access = second.access_token().await.unwrap();
    first.revoke_session(other).await.unwrap();
    // Its access token and its refresh token both stop at once.
    assert_eq!(status(app.client().verify_token(&access).await, "revoked access token"), 401);
    assert_eq!(status(second.refresh().await, "revoked refresh token"), 401);
    assert_eq!(status(second.me().await, "revoked login"), 401);
    // The caller's own login goes on.
    assert_eq!(first.me().await.unwrap().user.id, clinic.doctor.user_id);
    let left = first.sessions().await.unwrap();
    assert_eq!(left.iter().map(|s| s.id).collect::<Vec<_>>(), vec![mine]);
}

#[tokio::test]
async fn an_admin_revokes_every_login_of_a_user_and_nobody_else_may() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let second = app.login(&clinic.nurse.email).await;
    let user = clinic.nurse.user_id;
    assert_eq!(status(clinic.doctor.client.revoke_user_sessions(user).await, "doctor revoking"), 403);
    assert_eq!(status(clinic.admin.client.revoke_user_sessions(uuid::Uuid::now_v7()).await, "no such user"), 404);

    clinic.admin.client.revoke_user_sessions(user).await.unwrap();
    for c in [&clinic.nurse.client, &second] {
        assert_eq!(status(c.me().await, "revoked login"), 401);
        assert_eq!(status(c.refresh().await, "revoked refresh"), 401);
    }
    // A new login works, and the others' logins were untouched.
    let again = app.login(&clinic.nurse.email).await;
    assert_eq!(again.sessions().await.unwrap().len(), 1);
    assert!(clinic.nurse2.client.me().await.is_ok());
    let q = healthsynx_tests::shared::api::AuditQuery { action: Some("session.revoke".into()), ..Default::default() };
    assert_eq!(clinic.admin.client.audit(&q).await.unwrap().items.len(), 1);
}
