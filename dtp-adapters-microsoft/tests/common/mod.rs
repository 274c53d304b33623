//! Shared helpers of the integration tests: fixture loading.
#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::Value;

/// Loads `tests/fixtures/graph/<name>.json`, strips every `_source` key and
/// replaces `{{key}}` placeholders in strings with `vars`.
pub fn fixture(name: &str, vars: &[(&str, &str)]) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/graph")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()));
    let mut v: Value = serde_json::from_str(&text).expect("fixture is JSON");
    fill(&mut v, vars);
    v
}

fn fill(v: &mut Value, vars: &[(&str, &str)]) {
    match v {
        Value::Object(map) => {
            map.retain(|k, _| k != "_source");
            for (_, x) in map.iter_mut() {
                fill(x, vars);
            }
        }
        Value::Array(xs) => xs.iter_mut().for_each(|x| fill(x, vars)),
        Value::String(s) => {
            for (k, val) in vars {
                let pat = format!("{{{{{k}}}}}");
                if s.contains(&pat) {
                    *s = s.replace(&pat, val);
                }
            }
        }
        _ => {}
    }
}
pub mod fake;

use std::sync::Arc;

use dtp_adapters_microsoft::{GraphClient, GraphConfig};
use dtp_core::{AuthData, OAuthTokens};

/// A client at `fake`'s server with a private concurrency limit.
pub fn client_for(fake: &fake::GraphFake) -> GraphClient {
    GraphClient::with_private_limit(GraphConfig::new().with_base_url(&fake.base).unwrap()).unwrap()
}

/// OAuth credentials with access token `token`.
pub fn auth(token: &str) -> AuthData {
    AuthData::OAuth2(OAuthTokens::new(token))
}

/// A fresh mailbox (throttling its first request) and a value built on it.
pub async fn fresh<T>(
    make: impl Fn(GraphClient) -> T,
) -> (wiremock::MockServer, fake::GraphFake, Arc<T>) {
    let (server, fake) = fake::GraphFake::start("at-conformance", true).await;
    let v = Arc::new(make(client_for(&fake)));
    (server, fake, v)
}
pub mod e2e;
pub mod target;
