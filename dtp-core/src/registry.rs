//! A registry of services: each maps a name (`local`, `caldav`, …) to a
//! factory that opens a location (`./archive`, `https://host/dav/`) as an
//! [`Endpoint`] holding the exporters and importers it offers, by data type.
//!
//! The registry knows no provider: each adapter crate exports the factories
//! of its services (`dtp_adapters_local::LocalService`, …), and tools (the
//! `dtp` command, a provider's backend, the facade's `dtp::registry()`)
//! register the ones they are built with.
//!
//! ```
//! use std::sync::Arc;
//! use dtp_core::registry::{AuthKind, Endpoint, Registry, Role, ServiceFactory};
//! use dtp_core::{DataType, Result, async_trait};
//!
//! struct Nothing;
//! #[async_trait]
//! impl ServiceFactory for Nothing {
//!     fn name(&self) -> &str { "nothing" }
//!     fn description(&self) -> &str { "holds nothing" }
//!     fn auth(&self) -> AuthKind { AuthKind::None }
//!     fn exports(&self) -> Vec<DataType> { Vec::new() }
//!     fn imports(&self) -> Vec<DataType> { Vec::new() }
//!     async fn open(&self, _location: &str, _role: Role) -> Result<Endpoint> { Ok(Endpoint::new()) }
//! }
//!
//! let mut registry = Registry::new();
//! registry.register(Arc::new(Nothing));
//! let (service, location) = registry.resolve("nothing:somewhere").unwrap();
//! assert_eq!((service.name(), location), ("nothing", "somewhere"));
//! let unknown = registry.resolve("other:x").err().map(|e| e.message().to_string());
//! assert!(unknown.unwrap_or_default().contains("unknown service `other`"));
//! assert!(registry.resolve("nothing").is_err(), "no colon, no location");
//! ```

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{DataModel, DataType, Error, Exporter, Importer, Result};

/// How a service's user signs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuthKind {
    /// No credentials (a local folder).
    None,
    /// OAuth 2.0 in a browser.
    OAuth2,
    /// A user name and an (app) password.
    AppPassword,
}

impl AuthKind {
    /// A stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthKind::None => "none",
            AuthKind::OAuth2 => "oauth2",
            AuthKind::AppPassword => "app_password",
        }
    }
}

/// Whether a location is opened to read from or to write into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Role {
    /// Exported from.
    Source,
    /// Imported into.
    Destination,
}

type FinishHook = Arc<dyn Fn() -> Result<()> + Send + Sync>;
type SummaryHook = Arc<dyn Fn() -> String + Send + Sync>;

/// What one opened location offers: an exporter and/or importer per data
/// type, and a hook to run when a transfer into it ends.
#[derive(Clone, Default)]
pub struct Endpoint {
    exporters: HashMap<DataType, Arc<dyn Any + Send + Sync>>,
    importers: HashMap<DataType, Arc<dyn Any + Send + Sync>>,
    finish: Option<FinishHook>,
    summary: Option<SummaryHook>,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("exports", &self.exporters.keys().collect::<Vec<_>>())
            .field("imports", &self.importers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// An endpoint offering nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Offers `exporter` for data type `M`.
    pub fn with_exporter<M: DataModel>(mut self, exporter: Arc<dyn Exporter<M>>) -> Self {
        self.exporters.insert(M::DATA_TYPE, Arc::new(exporter));
        self
    }

    /// Offers `importer` for data type `M`.
    pub fn with_importer<M: DataModel>(mut self, importer: Arc<dyn Importer<M>>) -> Self {
        self.importers.insert(M::DATA_TYPE, Arc::new(importer));
        self
    }

    /// Offers `both` for data type `M` on the side `role` asks for: as the
    /// exporter of a source, as the importer of a destination. For adapters
    /// whose one type does both.
    pub fn with_side<M, T>(self, role: Role, both: &Arc<T>) -> Self
    where
        M: DataModel,
        T: Exporter<M> + Importer<M> + 'static,
    {
        match role {
            Role::Source => self.with_exporter::<M>(both.clone()),
            Role::Destination => self.with_importer::<M>(both.clone()),
        }
    }

    /// Runs `hook` from [`finish`](Self::finish) (e.g. to write an index).
    pub fn on_finish(mut self, hook: impl Fn() -> Result<()> + Send + Sync + 'static) -> Self {
        self.finish = Some(Arc::new(hook));
        self
    }

    /// Describes what the endpoint did, for reports (e.g. files written).
    pub fn on_summary(mut self, hook: impl Fn() -> String + Send + Sync + 'static) -> Self {
        self.summary = Some(Arc::new(hook));
        self
    }

    /// The summary line, if the endpoint has one.
    pub fn summary(&self) -> Option<String> {
        self.summary.as_ref().map(|f| f())
    }

    /// The exporter for `M`, if offered.
    pub fn exporter<M: DataModel>(&self) -> Option<Arc<dyn Exporter<M>>> {
        let any = self.exporters.get(&M::DATA_TYPE)?.clone();
        any.downcast::<Arc<dyn Exporter<M>>>()
            .ok()
            .map(|e| (*e).clone())
    }

    /// The importer for `M`, if offered.
    pub fn importer<M: DataModel>(&self) -> Option<Arc<dyn Importer<M>>> {
        let any = self.importers.get(&M::DATA_TYPE)?.clone();
        any.downcast::<Arc<dyn Importer<M>>>()
            .ok()
            .map(|e| (*e).clone())
    }

    /// Data types this endpoint exports, in [`DataType::ALL`] order.
    pub fn exports(&self) -> Vec<DataType> {
        DataType::ALL
            .into_iter()
            .filter(|t| self.exporters.contains_key(t))
            .collect()
    }

    /// Data types this endpoint imports, in [`DataType::ALL`] order.
    pub fn imports(&self) -> Vec<DataType> {
        DataType::ALL
            .into_iter()
            .filter(|t| self.importers.contains_key(t))
            .collect()
    }

    /// Runs the finish hook, if any.
    pub fn finish(&self) -> Result<()> {
        match &self.finish {
            Some(f) => f(),
            None => Ok(()),
        }
    }
}

/// Opens locations of one service.
///
/// `open` is async so that a factory may talk to the service first
/// (discover a server's capabilities, check a location); implement it under
/// `#[dtp_core::async_trait]`.
#[async_trait]
pub trait ServiceFactory: Send + Sync {
    /// The name used before the colon (`local`).
    fn name(&self) -> &str;
    /// One line about the service.
    fn description(&self) -> &str;
    /// How its users sign in.
    fn auth(&self) -> AuthKind;
    /// An example location (`./archive`, `https://host/dav/`).
    fn example_location(&self) -> &str {
        ""
    }
    /// Data types it can export.
    fn exports(&self) -> Vec<DataType>;
    /// Data types it can import.
    fn imports(&self) -> Vec<DataType>;
    /// Opens `location` for `role`.
    async fn open(&self, location: &str, role: Role) -> Result<Endpoint>;
}

/// The services a tool is built with, by name.
#[derive(Clone, Default)]
pub struct Registry {
    services: BTreeMap<String, Arc<dyn ServiceFactory>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.services.keys()).finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a service.
    pub fn register(&mut self, service: Arc<dyn ServiceFactory>) -> &mut Self {
        self.services.insert(service.name().to_string(), service);
        self
    }

    /// Every service, by name.
    pub fn services(&self) -> impl Iterator<Item = &Arc<dyn ServiceFactory>> {
        self.services.values()
    }

    /// The service called `name`.
    pub fn get(&self, name: &str) -> Result<Arc<dyn ServiceFactory>> {
        self.services.get(name).cloned().ok_or_else(|| {
            let known: Vec<&str> = self.services.keys().map(String::as_str).collect();
            Error::not_found(format!(
                "unknown service `{name}` (this build knows: {})",
                known.join(", ")
            ))
        })
    }

    /// Splits `service:location` and finds the service.
    pub fn resolve<'a>(&self, spec: &'a str) -> Result<(Arc<dyn ServiceFactory>, &'a str)> {
        let (name, location) = spec.split_once(':').ok_or_else(|| {
            Error::invalid_data(format!(
                "`{spec}` is not SERVICE:LOCATION (for example local:./archive)"
            ))
        })?;
        let service = self.get(name)?;
        if location.is_empty() {
            return Err(Error::invalid_data(format!(
                "`{spec}` names no location after `{name}:`"
            )));
        }
        Ok((service, location))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AuthData, Cursor, ExportContext, ExportPage};
    use async_trait::async_trait;
    use dtp_models::contacts::ContactsData;
    use dtp_models::tasks::TasksData;

    struct Tasks;

    #[async_trait]
    impl Exporter<TasksData> for Tasks {
        async fn export(
            &self,
            _ctx: &ExportContext,
            _auth: &AuthData,
            _cursor: &Cursor,
        ) -> Result<ExportPage<TasksData>> {
            Ok(ExportPage::new())
        }
    }

    #[test]
    fn endpoints_hand_out_what_they_hold_by_data_type() {
        let hits = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let h = hits.clone();
        let e = Endpoint::new()
            .with_exporter::<TasksData>(Arc::new(Tasks))
            .on_finish(move || {
                h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok(())
            })
            .on_summary(|| "3 new".into());
        assert!(e.exporter::<TasksData>().is_some());
        assert!(e.exporter::<ContactsData>().is_none());
        assert!(e.importer::<TasksData>().is_none());
        assert_eq!(e.exports(), vec![DataType::Tasks]);
        assert!(e.imports().is_empty());
        e.finish().unwrap();
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(e.summary().as_deref(), Some("3 new"));
    }

    #[async_trait]
    impl Importer<TasksData> for Tasks {
        async fn import_container(
            &self,
            _ctx: &crate::ImportContext,
            _auth: &AuthData,
            _c: &dtp_models::tasks::TaskList,
        ) -> Result<crate::Imported> {
            Ok(crate::Imported::created("c"))
        }
        async fn import_item(
            &self,
            _ctx: &crate::ImportContext,
            _auth: &AuthData,
            _i: &dtp_models::tasks::Task,
        ) -> Result<crate::Imported> {
            Ok(crate::Imported::created("i"))
        }
    }

    #[test]
    fn a_type_that_does_both_serves_the_side_asked_for() {
        let both = Arc::new(Tasks);
        let source = Endpoint::new().with_side::<TasksData, _>(Role::Source, &both);
        assert_eq!(
            (source.exports(), source.imports()),
            (vec![DataType::Tasks], vec![])
        );
        let dest = Endpoint::new().with_side::<TasksData, _>(Role::Destination, &both);
        assert_eq!(
            (dest.exports(), dest.imports()),
            (vec![], vec![DataType::Tasks])
        );
    }

    #[tokio::test]
    async fn locations_split_at_the_first_colon() {
        struct Dav;
        #[async_trait]
        impl ServiceFactory for Dav {
            fn name(&self) -> &str {
                "caldav"
            }
            fn description(&self) -> &str {
                ""
            }
            fn auth(&self) -> AuthKind {
                AuthKind::AppPassword
            }
            fn exports(&self) -> Vec<DataType> {
                vec![DataType::Calendar]
            }
            fn imports(&self) -> Vec<DataType> {
                Vec::new()
            }
            async fn open(&self, _location: &str, _role: Role) -> Result<Endpoint> {
                Ok(Endpoint::new())
            }
        }
        let mut r = Registry::new();
        r.register(Arc::new(Dav));
        let (svc, loc) = r.resolve("caldav:https://host:8443/dav/").unwrap();
        assert_eq!((svc.name(), loc), ("caldav", "https://host:8443/dav/"));
        assert!(
            svc.open(loc, Role::Source)
                .await
                .unwrap()
                .exports()
                .is_empty()
        );
        assert!(r.resolve("caldav:").is_err());
        let err = r.resolve("imap:imaps://x").err().unwrap();
        assert_eq!(err.kind(), &crate::ErrorKind::NotFound);
        assert!(err.message().contains("caldav"), "lists what is known");
    }
}
