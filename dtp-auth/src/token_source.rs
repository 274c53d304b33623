//! A source of valid access tokens for adapters: refresh ahead of expiry,
//! one refresh for many concurrent callers, refresh and retry once on 401,
//! `Reauthorize` when the provider refuses, and every new token handed to a
//! persistence callback.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use dtp_core::{AuthData, AuthRefresher, Error, ErrorKind, OAuthTokens, Result};
use secrecy::{ExposeSecret, SecretString};
use tracing::{debug, warn};

use crate::error::{AuthFailure, auth_failure};
use crate::oauth_client::{OAuthClient, constant_time_eq, now_unix};

/// Receives every new set of credentials a [`TokenSource`] obtains
/// (including a rotated refresh token), so that the job store keeps them.
///
/// Seal the [`AuthData`] and store it, e.g. with
/// `store.put_auth(&job, mode, &sealer.seal(auth)?)`. Use [`persist_fn`] to
/// pass a closure.
#[async_trait]
pub trait TokenPersister: Send + Sync {
    /// Stores `auth`. An error is returned to the caller that triggered the
    /// refresh; the new tokens stay in use and persisting is retried on the
    /// next [`TokenSource::token`].
    async fn persist(&self, auth: &AuthData) -> Result<()>;
}

/// A [`TokenPersister`] from an async closure.
///
/// ```
/// use dtp_auth::persist_fn;
/// let persister = persist_fn(|auth: dtp_core::AuthData| async move {
///     // seal and store `auth` here
///     let _ = auth;
///     Ok(())
/// });
/// # let _ = persister;
/// ```
pub fn persist_fn<F, Fut>(f: F) -> FnPersister<F>
where
    F: Fn(AuthData) -> Fut + Send + Sync,
    Fut: Future<Output = Result<()>> + Send,
{
    FnPersister(f)
}

/// See [`persist_fn`].
pub struct FnPersister<F>(F);

impl<F> fmt::Debug for FnPersister<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnPersister")
    }
}

#[async_trait]
impl<F, Fut> TokenPersister for FnPersister<F>
where
    F: Fn(AuthData) -> Fut + Send + Sync,
    Fut: Future<Output = Result<()>> + Send,
{
    async fn persist(&self, auth: &AuthData) -> Result<()> {
        (self.0)(auth.clone()).await
    }
}

/// An access token handed out by a [`TokenSource`]. `Debug` redacts it.
#[derive(Clone)]
pub struct Bearer {
    token: SecretString,
    generation: u64,
}

impl Bearer {
    /// The access token, to put into an `Authorization: Bearer` header.
    pub fn secret(&self) -> &str {
        self.token.expose_secret()
    }

    /// Which refresh produced this token (0 for the initial one). Pass the
    /// whole `Bearer` to [`TokenSource::refresh_rejected`] when it is refused.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

impl fmt::Debug for Bearer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bearer([REDACTED], generation {})", self.generation)
    }
}

/// Builds a [`TokenSource`]; get one from
/// [`OAuth2AuthDataGenerator::token_source`](crate::OAuth2AuthDataGenerator::token_source).
pub struct TokenSourceBuilder {
    client: Arc<OAuthClient>,
    tokens: OAuthTokens,
    skew: Duration,
    persister: Option<Arc<dyn TokenPersister>>,
}

impl fmt::Debug for TokenSourceBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSourceBuilder")
            .field("service", &self.client.config.service)
            .field("skew", &self.skew)
            .field("persister", &self.persister.is_some())
            .finish()
    }
}

/// Default time before expiry at which a token is refreshed.
pub const DEFAULT_REFRESH_SKEW: Duration = Duration::from_secs(60);

impl TokenSourceBuilder {
    pub(crate) fn new(client: Arc<OAuthClient>, tokens: OAuthTokens) -> Self {
        TokenSourceBuilder {
            client,
            tokens,
            skew: DEFAULT_REFRESH_SKEW,
            persister: None,
        }
    }

    /// Refresh this long before the token expires (default
    /// [`DEFAULT_REFRESH_SKEW`]).
    pub fn refresh_skew(mut self, skew: Duration) -> Self {
        self.skew = skew;
        self
    }

    /// Hand every new set of tokens to `persister`.
    pub fn on_new_tokens(mut self, persister: impl TokenPersister + 'static) -> Self {
        self.persister = Some(Arc::new(persister));
        self
    }

    /// The token source.
    pub fn build(self) -> TokenSource {
        TokenSource {
            shared: Arc::new(Shared {
                client: self.client,
                skew_secs: i64::try_from(self.skew.as_secs()).unwrap_or(i64::MAX),
                persister: self.persister,
                state: Mutex::new(State {
                    tokens: self.tokens,
                    generation: 0,
                    unpersisted: false,
                    dead: None,
                    attempts: 0,
                    last_failure: None,
                }),
                refresh: tokio::sync::Mutex::new(()),
            }),
        }
    }
}

/// Valid access tokens for one authorization, shared by every task of a job
/// (clone it freely).
///
/// * [`token`](Self::token) returns the current token, refreshing it first
///   when it expires within the skew;
/// * concurrent callers that all find the token stale wait for **one**
///   refresh;
/// * [`call`](Self::call) and [`send`](Self::send) refresh and retry once
///   when the API answers 401 / [`ErrorKind::Unauthenticated`];
/// * a refused refresh (`invalid_grant`: revoked, expired, rotated away) is
///   [`ErrorKind::Reauthorize`], and stays so for every later call;
/// * every new set of tokens, including a rotated refresh token, goes to the
///   [`TokenPersister`].
///
/// ```no_run
/// # async fn demo(generator: dtp_auth::OAuth2AuthDataGenerator, tokens: dtp_core::OAuthTokens) -> dtp_core::Result<()> {
/// use std::time::Duration;
/// use dtp_auth::persist_fn;
///
/// let source = generator
///     .token_source(tokens)
///     .refresh_skew(Duration::from_secs(120))
///     .on_new_tokens(persist_fn(|auth| async move { /* seal + store */ let _ = auth; Ok(()) }))
///     .build();
/// let http = reqwest::Client::new();
/// let response = source
///     .send(|| http.get("https://api.example/v1/me"))
///     .await?;
/// # let _ = response; Ok(()) }
/// ```
#[derive(Clone)]
pub struct TokenSource {
    shared: Arc<Shared>,
}

struct Shared {
    client: Arc<OAuthClient>,
    skew_secs: i64,
    persister: Option<Arc<dyn TokenPersister>>,
    state: Mutex<State>,
    /// Held by the one task that refreshes (or persists).
    refresh: tokio::sync::Mutex<()>,
}

struct State {
    tokens: OAuthTokens,
    generation: u64,
    /// New tokens not yet accepted by the persister.
    unpersisted: bool,
    /// Set when the provider refused a refresh: the user must authorize again.
    dead: Option<AuthFailure>,
    /// Finished refresh attempts so far.
    attempts: u64,
    /// Why the last attempt failed, handed to everyone who waited for it.
    last_failure: Option<LastFailure>,
}

/// A failed refresh, kept so that callers who waited for that attempt share
/// its outcome instead of each trying again.
#[derive(Clone)]
struct LastFailure {
    kind: ErrorKind,
    message: String,
    failure: Option<AuthFailure>,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("TokenSource")
            .field("service", &self.shared.client.config.service)
            .field("generation", &state.generation)
            .field("expires_at", &state.tokens.expires_at)
            .field("reauthorize", &state.dead.is_some())
            .finish()
    }
}

impl TokenSource {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the state half-written
        // (every update is a plain assignment), so a poisoned lock is usable.
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn is_fresh(&self, tokens: &OAuthTokens) -> bool {
        tokens
            .expires_at
            .is_none_or(|exp| now_unix().saturating_add(self.shared.skew_secs) < exp)
    }

    fn dead_error(&self, failure: &AuthFailure) -> Error {
        failure
            .clone()
            .into_error("oauth2_refresh")
            .with_service(self.shared.client.config.service.clone())
    }

    fn shared_error(&self, last: &LastFailure) -> Error {
        let e = Error::new(last.kind.clone(), last.message.clone())
            .with_scope(dtp_core::ErrorScope::Job)
            .with_operation("oauth2_refresh")
            .with_service(self.shared.client.config.service.clone());
        match &last.failure {
            Some(f) => e.with_source(f.clone()),
            None => e,
        }
    }

    fn bearer(state: &State) -> Bearer {
        Bearer {
            token: state.tokens.access_token.clone(),
            generation: state.generation,
        }
    }

    /// A valid access token, refreshed first if it expires within the skew.
    ///
    /// Callers that wait for the same refresh share its outcome: one
    /// request to the token endpoint, success or failure.
    pub async fn token(&self) -> Result<Bearer> {
        let seen = {
            let state = self.state();
            if let Some(f) = &state.dead {
                return Err(self.dead_error(f));
            }
            if self.is_fresh(&state.tokens) && !state.unpersisted {
                return Ok(Self::bearer(&state));
            }
            (state.generation, state.attempts)
        };
        self.refresh_from(seen, false).await
    }

    /// Called when the API refused `rejected` (HTTP 401): refreshes, unless
    /// another caller already did since `rejected` was handed out, and
    /// returns the new token.
    pub async fn refresh_rejected(&self, rejected: &Bearer) -> Result<Bearer> {
        let attempts = self.state().attempts;
        self.refresh_from((rejected.generation, attempts), true)
            .await
    }

    /// The current credentials (e.g. to seal and store them).
    pub fn auth_data(&self) -> AuthData {
        AuthData::OAuth2(self.state().tokens.clone())
    }

    /// Replaces the credentials after the user authorized again; they are
    /// handed to the persister on the next [`token`](Self::token).
    pub fn replace(&self, tokens: OAuthTokens) {
        let mut state = self.state();
        state.tokens = tokens;
        state.generation += 1;
        state.unpersisted = true;
        state.dead = None;
        state.last_failure = None;
    }

    /// Runs `f` with a valid token; if it fails with
    /// [`ErrorKind::Unauthenticated`], refreshes and runs it once more.
    pub async fn call<T, F, Fut>(&self, mut f: F) -> Result<T>
    where
        F: FnMut(Bearer) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let bearer = self.token().await?;
        let rejected = bearer.clone();
        match f(bearer).await {
            Err(e) if *e.kind() == ErrorKind::Unauthenticated => {
                debug!(
                    service = %self.shared.client.config.service,
                    generation = rejected.generation,
                    "access token rejected; refreshing once"
                );
                let fresh = self.refresh_rejected(&rejected).await?;
                f(fresh).await
            }
            other => other,
        }
    }

    /// Sends the request built by `build` with `Authorization: Bearer …`; on
    /// HTTP 401 refreshes once and sends a newly built request. Returns the
    /// response whatever its status (a second 401 included); transport
    /// failures are [`ErrorKind::Transient`].
    pub async fn send<B>(&self, build: B) -> Result<reqwest::Response>
    where
        B: Fn() -> reqwest::RequestBuilder,
    {
        let send = |bearer: Bearer| {
            let request = build().bearer_auth(bearer.secret());
            async move {
                request.send().await.map_err(|e| {
                    Error::transient(if e.is_timeout() {
                        "the request timed out"
                    } else {
                        "the request failed"
                    })
                    .with_operation("api_request")
                })
            }
        };
        let bearer = self.token().await?;
        let rejected = bearer.clone();
        let response = send(bearer).await?;
        if response.status() != reqwest::StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        debug!(
            service = %self.shared.client.config.service,
            generation = rejected.generation,
            "API answered 401; refreshing once"
        );
        let fresh = self.refresh_rejected(&rejected).await?;
        send(fresh).await
    }

    /// Refreshes unless someone else did (or failed to) since the caller
    /// looked at the state (`seen` = generation, attempts).
    async fn refresh_from(&self, seen: (u64, u64), force: bool) -> Result<Bearer> {
        let (seen_generation, seen_attempts) = seen;
        let _one_at_a_time = self.shared.refresh.lock().await;
        let current = {
            let state = self.state();
            if let Some(f) = &state.dead {
                return Err(self.dead_error(f));
            }
            if state.attempts != seen_attempts && state.generation == seen_generation {
                // The attempt this caller waited for failed: share its outcome.
                if let Some(last) = &state.last_failure {
                    return Err(self.shared_error(last));
                }
            }
            let fresh = self.is_fresh(&state.tokens);
            let already_refreshed = state.generation != seen_generation;
            if fresh && (!force || already_refreshed) {
                None
            } else {
                Some(state.tokens.clone())
            }
        };
        if let Some(current) = current {
            let outcome = self.shared.client.refresh(&current).await;
            // Counted when finished: whoever looked before now shares this outcome.
            self.state().attempts += 1;
            match outcome {
                Ok(tokens) => {
                    let mut state = self.state();
                    state.tokens = tokens;
                    state.generation += 1;
                    state.unpersisted = true;
                    state.last_failure = None;
                }
                Err(e) => {
                    let mut state = self.state();
                    let failure = auth_failure(&e).cloned();
                    if *e.kind() == ErrorKind::Reauthorize {
                        state.dead = Some(failure.clone().unwrap_or(AuthFailure::NoRefreshToken));
                    }
                    state.last_failure = Some(LastFailure {
                        kind: e.kind().clone(),
                        message: e.message().to_owned(),
                        failure,
                    });
                    return Err(e);
                }
            }
        }
        self.persist_pending().await?;
        Ok(Self::bearer(&self.state()))
    }

    /// Hands unpersisted tokens to the persister. Runs under the refresh lock.
    async fn persist_pending(&self) -> Result<()> {
        let (auth, generation) = {
            let state = self.state();
            if !state.unpersisted {
                return Ok(());
            }
            (AuthData::OAuth2(state.tokens.clone()), state.generation)
        };
        if let Some(persister) = &self.shared.persister {
            if let Err(e) = persister.persist(&auth).await {
                warn!(
                    service = %self.shared.client.config.service,
                    generation,
                    error = %e,
                    "renewed tokens could not be persisted; will retry"
                );
                return Err(e);
            }
            debug!(service = %self.shared.client.config.service, generation, "renewed tokens persisted");
        }
        let mut state = self.state();
        if state.generation == generation {
            state.unpersisted = false;
        }
        Ok(())
    }
}

#[async_trait]
impl AuthRefresher for TokenSource {
    /// Returns newer credentials than `current`: this source's own if they
    /// already differ from `current` and are valid, otherwise after one
    /// (shared) refresh.
    async fn refresh(&self, current: &AuthData) -> Result<AuthData> {
        let AuthData::OAuth2(given) = current else {
            return Err(AuthFailure::NotRefreshable {
                kind: current.kind_name(),
            }
            .into_error("oauth2_refresh"));
        };
        let (seen, same) = {
            let state = self.state();
            (
                (state.generation, state.attempts),
                constant_time_eq(
                    state.tokens.access_token.expose_secret().as_bytes(),
                    given.access_token.expose_secret().as_bytes(),
                ),
            )
        };
        self.refresh_from(seen, same).await?;
        Ok(self.auth_data())
    }
}
