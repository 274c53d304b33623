//! Credentials in a job store, sealed: the store only ever sees
//! [`SealedAuth`](dtp_core::SealedAuth).

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use dtp_core::store::{JobId, JobStore};
use dtp_core::{AuthData, AuthMode, AuthSealer, Result};

use crate::token_source::TokenPersister;

/// A [`JobStore`] and an [`AuthSealer`] together: saves credentials sealed,
/// loads and opens them, and persists a [`TokenSource`](crate::TokenSource)'s
/// renewed tokens.
///
/// ```
/// # async fn demo() -> dtp_core::Result<()> {
/// use std::sync::Arc;
/// use dtp_auth::{SealedAuthStore, XChaChaSealer};
/// use dtp_core::store::{JobStore, MemoryJobStore, NewJob};
/// use dtp_core::{AuthData, AuthMode, DataType};
///
/// let store = Arc::new(MemoryJobStore::new());
/// let job = store.create_job(NewJob::new("a", "b", [DataType::Mail])).await?.id;
/// let auth_store = SealedAuthStore::new(store.clone(), Arc::new(XChaChaSealer::new(&[3; 32])));
/// auth_store.save(&job, AuthMode::Export, &AuthData::basic("alice", "pw")).await?;
/// let back = auth_store.load(&job, AuthMode::Export).await?.unwrap();
/// assert_eq!(back.to_string(), "password credentials of alice");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SealedAuthStore {
    store: Arc<dyn JobStore>,
    sealer: Arc<dyn AuthSealer>,
}

impl fmt::Debug for SealedAuthStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealedAuthStore")
    }
}

impl SealedAuthStore {
    /// Credentials in `store`, sealed by `sealer`.
    pub fn new(store: Arc<dyn JobStore>, sealer: Arc<dyn AuthSealer>) -> Self {
        SealedAuthStore { store, sealer }
    }

    /// Seals `auth` and stores it for `job`'s `mode` side.
    pub async fn save(&self, job: &JobId, mode: AuthMode, auth: &AuthData) -> Result<()> {
        let sealed = self.sealer.seal(auth)?;
        self.store.put_auth(job, mode, &sealed).await
    }

    /// Loads and opens the credentials of `job`'s `mode` side. A tampered
    /// blob or a wrong key is an error (see [`XChaChaSealer`](crate::XChaChaSealer)).
    pub async fn load(&self, job: &JobId, mode: AuthMode) -> Result<Option<AuthData>> {
        match self.store.auth(job, mode).await? {
            Some(sealed) => self.sealer.open(&sealed).map(Some),
            None => Ok(None),
        }
    }

    /// A [`TokenPersister`] saving every renewed set of tokens for `job`'s
    /// `mode` side.
    pub fn persister(&self, job: JobId, mode: AuthMode) -> JobAuthPersister {
        JobAuthPersister {
            store: self.clone(),
            job,
            mode,
        }
    }
}

/// Persists renewed tokens of one job side; see [`SealedAuthStore::persister`].
#[derive(Debug, Clone)]
pub struct JobAuthPersister {
    store: SealedAuthStore,
    job: JobId,
    mode: AuthMode,
}

#[async_trait]
impl TokenPersister for JobAuthPersister {
    async fn persist(&self, auth: &AuthData) -> Result<()> {
        self.store.save(&self.job, self.mode, auth).await
    }
}
