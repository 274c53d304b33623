//! A conformance target over the Graph fake, for any adapter of this crate.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use dtp_adapters_microsoft::GraphClient;
use dtp_core::{Exporter, Importer, Result};
use dtp_testkit::SampleModel;
use dtp_testkit::conformance::{Account, Capabilities, ConformanceTarget, ErrorCase};

use super::fake::{Failure, GraphFake};
use super::{auth, client_for};

pub struct GraphTarget<A> {
    pub make: fn(GraphClient) -> A,
    pub normalize: fn(&mut serde_json::Value),
    pub capabilities: fn() -> Capabilities,
    servers: Mutex<Vec<wiremock::MockServer>>,
}

impl<A> GraphTarget<A> {
    pub fn new(make: fn(GraphClient) -> A, normalize: fn(&mut serde_json::Value)) -> Self {
        GraphTarget {
            make,
            normalize,
            capabilities: Capabilities::full,
            servers: Mutex::new(Vec::new()),
        }
    }

    async fn account<M>(&self, failure: Option<Failure>, token: &str) -> Account<M>
    where
        M: SampleModel,
        A: Exporter<M> + Importer<M> + 'static,
    {
        let (server, fake) = GraphFake::start("at-conformance", true).await;
        if let Some(f) = failure {
            fake.set_failure(f);
        }
        let adapter = Arc::new((self.make)(client_for(&fake)));
        self.servers.lock().unwrap().push(server);
        Account::new(adapter.clone(), adapter, auth(token))
    }
}

#[async_trait]
impl<M, A> ConformanceTarget<M> for GraphTarget<A>
where
    M: SampleModel,
    A: Exporter<M> + Importer<M> + Send + Sync + 'static,
{
    async fn fresh_account(&self) -> Result<Account<M>> {
        Ok(self.account(None, "at-conformance").await)
    }

    fn capabilities(&self) -> Capabilities {
        (self.capabilities)()
    }

    async fn error_cases(&self) -> Result<Vec<ErrorCase<M>>> {
        let case = |name: &str, account, on_import, kind| ErrorCase {
            name: name.to_string(),
            account,
            on_import,
            expected_kind: kind,
        };
        Ok(vec![
            case(
                "507 quotaLimitReached on create",
                self.account(Some(Failure::QuotaOnCreate), "at-conformance")
                    .await,
                true,
                dtp_core::ErrorKind::DestinationFull,
            ),
            case(
                "403 ErrorQuotaExceeded (full mailbox)",
                self.account(Some(Failure::MailboxFullOnCreate), "at-conformance")
                    .await,
                true,
                dtp_core::ErrorKind::DestinationFull,
            ),
            case(
                "403 ErrorAccessDenied",
                self.account(Some(Failure::AccessDenied), "at-conformance")
                    .await,
                false,
                dtp_core::ErrorKind::PermissionDenied,
            ),
            case(
                "401 with no refresher",
                self.account(None, "at-expired").await,
                false,
                dtp_core::ErrorKind::Unauthenticated,
            ),
            case(
                "truncated JSON page",
                self.account(Some(Failure::TruncatedJson), "at-conformance")
                    .await,
                false,
                dtp_core::ErrorKind::InvalidData,
            ),
        ])
    }

    fn normalize(&self, value: &mut serde_json::Value) {
        (self.normalize)(value)
    }
}
