//! `docs/openapi.yaml` lists exactly the routes the server serves, with the
//! same path parameters, and declares the bearer scheme exactly where the
//! server asks for a token. (That the answers match the schemas is checked
//! by `.ci/schemathesis.sh` against a running server.)

use std::collections::BTreeSet;

use healthsynx_tests::TestApp;
use healthsynx_tests::shared::api::{Auth, ROUTES, is_fhir_path};
use serde_norway::Value;

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

fn spec() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.yaml");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("parse {path}: {e}"))
}

/// Follows a local `$ref` (`#/components/...`) once; other values as they are.
fn resolve<'a>(spec: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let pointer = r.strip_prefix("#/").unwrap_or_else(|| panic!("non-local $ref {r}"));
            pointer.split('/').fold(spec, |node, key| node.get(key).unwrap_or_else(|| panic!("dangling $ref {r}")))
        }
        None => v,
    }
}

/// Every `(METHOD, path)` of the spec, with its path item and operation.
fn operations(spec: &Value) -> Vec<(String, String, &Value, &Value)> {
    let paths = spec["paths"].as_mapping().expect("paths is a mapping");
    let mut out = Vec::new();
    for (path, item) in paths {
        let path = path.as_str().expect("path is a string");
        for m in METHODS {
            if let Some(op) = item.get(m) {
                out.push((m.to_uppercase(), path.to_owned(), item, op));
            }
        }
    }
    out
}

fn pattern_params(pattern: &str) -> Vec<String> {
    pattern
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.split_once('}')).map(|(name, _suffix)| name))
        .map(str::to_owned)
        .collect()
}

/// Whether the operation needs the bearer token: its own `security`, else the document's.
fn needs_bearer(spec: &Value, op: &Value) -> bool {
    let security = op.get("security").unwrap_or(&spec["security"]);
    let reqs = security.as_sequence().expect("security is a list");
    !reqs.is_empty() && reqs.iter().all(|r| r.get("bearerAuth").is_some())
}

#[test]
fn the_spec_lists_exactly_the_routes_the_server_serves() {
    let spec = spec();
    assert_eq!(spec["openapi"].as_str().map(|v| v.starts_with("3.1")), Some(true), "OpenAPI 3.1");
    let documented: BTreeSet<(String, String)> = operations(&spec).into_iter().map(|(m, p, _, _)| (m, p)).collect();
    let served: BTreeSet<(String, String)> =
        ROUTES.iter().map(|r| (r.method.to_owned(), r.pattern.to_owned())).collect();
    let missing: Vec<_> = served.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&served).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "docs/openapi.yaml and shared::api::ROUTES differ\n  served but not documented: {missing:?}\n  documented but not served: {extra:?}"
    );
}

#[test]
fn path_parameters_match_the_route_patterns() {
    let spec = spec();
    for (method, path, item, op) in operations(&spec) {
        let mut declared = Vec::new();
        let params = [item.get("parameters"), op.get("parameters")];
        for p in params.into_iter().flatten().flat_map(|s| s.as_sequence().expect("parameters is a list")) {
            let p = resolve(&spec, p);
            if p["in"].as_str() == Some("path") {
                assert_eq!(p["required"].as_bool(), Some(true), "{method} {path}: path parameters are required");
                // Every path parameter is an id, but a feed's secret token.
                let format = if p["name"].as_str() == Some("token") { None } else { Some("uuid") };
                assert_eq!(p["schema"]["format"].as_str(), format, "{method} {path}: ids are UUIDs");
                declared.push(p["name"].as_str().expect("parameter name").to_owned());
            }
        }
        declared.sort();
        let mut wanted = pattern_params(&path);
        wanted.sort();
        assert_eq!(declared, wanted, "{method} {path}: path parameters");
    }
}

#[test]
fn every_operation_is_named_and_answers_with_documented_problems() {
    let spec = spec();
    let mut ids = BTreeSet::new();
    for (method, path, _, op) in operations(&spec) {
        let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path}: operationId"));
        assert!(ids.insert(id.to_owned()), "operationId {id} twice");
        let responses = op["responses"].as_mapping().unwrap_or_else(|| panic!("{method} {path}: responses"));
        for (status, response) in responses {
            let status = status.as_str().unwrap_or_else(|| panic!("{method} {path}: quote status codes"));
            let response = resolve(&spec, response);
            assert!(response.get("description").is_some(), "{method} {path} {status}: description");
            if status.starts_with('4') {
                // FHIR's errors are its own: OperationOutcome as FHIR JSON.
                let (media, schema) = if is_fhir_path(&path) {
                    ("application/fhir+json", "#/components/schemas/OperationOutcome")
                } else {
                    ("application/problem+json", "#/components/schemas/Problem")
                };
                let body = &response["content"][media]["schema"];
                assert_eq!(
                    body.get("$ref").and_then(Value::as_str),
                    Some(schema),
                    "{method} {path} {status}: errors are {media} of {schema}"
                );
            }
        }
        if needs_bearer(&spec, op) {
            // Every token route checks the token and spends the caller's request budget.
            for status in ["401", "429"] {
                assert!(responses.get(status).is_some(), "{method} {path}: a token route documents {status}");
            }
        }
    }
}

/// The route table's `auth` column, the spec's `security` and the server
/// agree: without a token, every bearer route answers `401` and no public
/// route does.
#[tokio::test]
async fn the_spec_declares_the_bearer_token_exactly_where_the_server_wants_one() {
    let spec = spec();
    let app = TestApp::spawn().await;
    let http = app.http();
    let ops = operations(&spec);
    for r in ROUTES {
        let (method, pattern) = (r.method, r.pattern);
        let (_, _, _, op) = ops
            .iter()
            .find(|(m, p, _, _)| m == method && p == pattern)
            .unwrap_or_else(|| panic!("{method} {pattern} is not in the spec"));
        let documented = needs_bearer(&spec, op);
        assert_eq!(documented, r.auth == Auth::Bearer, "{method} {pattern}: security in the spec and the table");
        let concrete = pattern
            .split('/')
            .map(|s| if s.starts_with('{') { uuid::Uuid::now_v7().to_string() } else { s.to_owned() });
        let url = format!("{}{}", app.url(), concrete.collect::<Vec<_>>().join("/"));
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let status = http.request(method.clone(), &url).send().await.expect("request").status().as_u16();
        if documented {
            assert_eq!(status, 401, "{method} {pattern} without a token");
        } else {
            assert_ne!(status, 401, "{method} {pattern} is public but wants a token");
        }
    }
}
