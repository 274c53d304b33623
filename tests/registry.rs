//! `dtp::registry()` holds the services of exactly the adapter features that
//! are on, and each opens what it says it exports.

use dtp::core::DataType;
use dtp::core::registry::Role;

/// The services each feature adds.
fn expected() -> Vec<&'static str> {
    let mut names = Vec::new();
    if cfg!(feature = "local") {
        names.push("local");
    }
    if cfg!(feature = "dav") {
        names.extend(["caldav", "carddav", "webdav"]);
    }
    if cfg!(feature = "imap") {
        names.push("imap");
    }
    if cfg!(feature = "google") {
        names.extend(["google", "google-takeout"]);
    }
    if cfg!(feature = "microsoft") {
        names.push("microsoft");
    }
    names.sort_unstable();
    names
}

#[test]
fn the_registry_lists_the_services_of_the_enabled_features() {
    let registry = dtp::registry();
    let names: Vec<&str> = registry.services().map(|s| s.name()).collect();
    assert_eq!(names, expected());
    // This package's own tests build it with every adapter feature.
    assert_eq!(names.len(), 8, "{names:?}");
    for service in registry.services() {
        assert!(
            !service.description().is_empty() && !service.exports().is_empty(),
            "{} describes itself and exports something",
            service.name()
        );
    }
}

#[tokio::test]
async fn each_service_opens_a_location_with_what_it_declares() {
    let registry = dtp::registry();
    let archive = tempfile::tempdir().unwrap();
    let archive = archive.path().to_str().unwrap();
    let locations = [
        ("local", archive),
        ("caldav", "http://127.0.0.1:9/dav/"),
        ("carddav", "http://127.0.0.1:9/dav/"),
        ("webdav", "http://127.0.0.1:9/photos/"),
        ("imap", "imap://127.0.0.1:9"),
        ("google", "alice@example.com"),
        ("microsoft", "ada@example.org"),
    ];
    for (name, location) in locations {
        let service = registry.get(name).unwrap();
        // Opening builds clients only: nothing is contacted.
        let source = service.open(location, Role::Source).await.unwrap();
        assert_eq!(source.exports(), service.exports(), "{name} as a source");
        assert!(source.imports().is_empty(), "{name} as a source");
        let destination = service.open(location, Role::Destination).await.unwrap();
        assert_eq!(
            destination.imports(),
            service.imports(),
            "{name} as a destination"
        );
        assert!(destination.exports().is_empty(), "{name} as a destination");
    }
    let takeout = registry.get("google-takeout").unwrap();
    assert_eq!(takeout.exports(), vec![DataType::Media]);
    let refused = takeout.open("./takeout.zip", Role::Destination).await;
    assert_eq!(
        refused.err().map(|e| e.kind().clone()),
        Some(dtp::core::ErrorKind::Unsupported)
    );
}
