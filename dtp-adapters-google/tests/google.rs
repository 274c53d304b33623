//! Offline tests of the Google adapters against stateful wiremock fakes:
//! the testkit conformance suite per data type, end-to-end transfers with
//! the local archive, errors, quotas and token refresh. Live tests run only
//! with `DTP_GOOGLE_*` credentials in the environment.

#[path = "google/calendar.rs"]
mod calendar;
#[path = "google/common.rs"]
mod common;
#[path = "google/contacts.rs"]
mod contacts;
#[path = "google/live.rs"]
mod live;
#[path = "google/lost.rs"]
mod lost;
#[path = "google/mail.rs"]
mod mail;
#[path = "google/tasks.rs"]
mod tasks;
