//! User administration and departments.

use healthsynx_tests::TestApp;
use healthsynx_tests::shared::Role;
use healthsynx_tests::shared::api::{AuditQuery, NewUser, RouteId, UserPatch, UserQuery};
use uuid::Uuid;

use crate::support::{code, send_json, status};
use serde_json::json;

fn staff(email: &str, name: &str, role: Role, dept: Option<&str>) -> NewUser {
    NewUser {
        email: email.parse().unwrap(),
        full_name: name.into(),
        role,
        department: dept.map(|d| d.parse().unwrap()),
        password: None,
        username: None,
    }
}

#[tokio::test]
async fn every_admin_route_is_403_for_other_roles_and_404_for_unknown_ids() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let target = clinic.nurse.user_id;
    for (role, c) in clinic.by_role() {
        if role == Role::Admin {
            continue;
        }
        let new = staff("x@test.dev", "X Y", Role::Receptionist, None);
        assert_eq!(code(c.users(&UserQuery::default()).await), 403, "{role} list");
        assert_eq!(code(c.create_user(&new).await), 403, "{role} create");
        assert_eq!(code(c.user_by_id(target).await), 403, "{role} get");
        assert_eq!(code(c.patch_user(target, &UserPatch::default()).await), 403, "{role} patch");
        assert_eq!(code(c.deactivate_user(target).await), 403, "{role} deactivate");
        assert_eq!(code(c.activate_user(target).await), 403, "{role} activate");
        assert_eq!(code(c.issue_password_reset(target).await), 403, "{role} reset");
        assert_eq!(code(c.create_department("x-ray", "X-Ray").await), 403, "{role} department");
        assert_eq!(code(c.audit(&AuditQuery::default()).await), 403, "{role} audit");
        assert_eq!(code(c.verify_audit().await), 403, "{role} verify");
    }
    let admin = &clinic.admin.client;
    let nobody = Uuid::now_v7();
    assert_eq!(code(admin.user_by_id(nobody).await), 404);
    assert_eq!(code(admin.patch_user(nobody, &UserPatch::default()).await), 404);
    assert_eq!(code(admin.deactivate_user(nobody).await), 404);
    assert_eq!(code(admin.activate_user(nobody).await), 404);
    assert_eq!(code(admin.issue_password_reset(nobody).await), 404);
}

#[tokio::test]
async fn admins_create_users_with_unique_generated_usernames() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let admin = &clinic.admin.client;
    let a = admin.create_user(&staff("john.doe@test.dev", "John Doe", Role::Doctor, Some("cardiology"))).await.unwrap();
    let b = admin.create_user(&staff("jane.doe@test.dev", "Jack Doe", Role::Nurse, Some("neurology"))).await.unwrap();
    assert_eq!(a.username, "jdoe");
    assert_eq!(b.username, "jdoe2");
    assert!(a.active);
    let dup = admin.create_user(&staff("JOHN.DOE@test.dev", "Other", Role::Receptionist, None)).await;
    assert_eq!(status(dup, "duplicate email"), 409);
    let no_dept = admin.create_user(&staff("d@test.dev", "Dee Dee", Role::Doctor, None)).await;
    assert_eq!(status(no_dept, "doctor without department"), 422);
    let bad_dept = admin.create_user(&staff("d@test.dev", "Dee Dee", Role::Doctor, Some("astrology"))).await;
    assert_eq!(status(bad_dept, "unknown department"), 422);
    let bad_email = json!({"email": "not-an-email", "full_name": "Dee Dee", "role": "receptionist"});
    let (bad_email, problem) = send_json(&app, admin, RouteId::CreateUser, &[], bad_email).await;
    assert_eq!(bad_email, 422, "bad email");
    assert_eq!(problem.unwrap().errors[0].field, "email");

    let doctors = admin.users(&UserQuery { role: Some(Role::Doctor), ..Default::default() }).await.unwrap();
    assert_eq!(doctors.items.len(), 3);
    let cardio = admin.users(&UserQuery { department: Some("cardiology".into()), ..Default::default() }).await.unwrap();
    assert!(cardio.items.iter().all(|u| u.department.as_deref() == Some("cardiology")));
    let found = admin.users(&UserQuery { q: Some("doe".into()), ..Default::default() }).await.unwrap();
    assert_eq!(found.items.len(), 2);
    let page1 = admin.users(&UserQuery { limit: Some(3), ..Default::default() }).await.unwrap();
    let page2 = admin
        .users(&UserQuery { limit: Some(100), cursor: page1.next_cursor.clone(), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(page1.items.len(), 3);
    assert_eq!(page1.items.len() + page2.items.len(), 10);
    assert!(page2.next_cursor.is_none());

    let patched = admin
        .patch_user(a.id, &UserPatch { full_name: Some("John Q. Doe".into()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(patched.full_name, "John Q. Doe");
    assert_eq!(admin.user_by_id(a.id).await.unwrap().full_name, "John Q. Doe");
}

#[tokio::test]
async fn departments_are_listed_to_all_and_created_by_admins() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let d = clinic.admin.client.create_department("oncology", "Oncology").await.unwrap();
    assert_eq!(d.code, "oncology");
    assert_eq!(code(clinic.admin.client.create_department("oncology", "Again").await), 409);
    assert_eq!(code(clinic.admin.client.create_department("Bad Code!", "X").await), 422);
    let all = clinic.patient.client.departments().await.unwrap();
    let codes: Vec<&str> = all.iter().map(|d| d.code.as_str()).collect();
    assert_eq!(codes, ["cardiology", "neurology", "oncology"]);
}
