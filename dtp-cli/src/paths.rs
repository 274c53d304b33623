//! Where `dtp` keeps its files: jobs in the data folder, credentials and the
//! sealing key in the config folder. `DTP_DATA_DIR` and `DTP_CONFIG_DIR`
//! override both (tests, portable installs).

use std::path::PathBuf;

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn env_dir(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The data folder (job store).
pub fn data_dir() -> PathBuf {
    env_dir("DTP_DATA_DIR").unwrap_or_else(|| {
        env_dir("XDG_DATA_HOME")
            .unwrap_or_else(|| home().join(".local/share"))
            .join("dtp")
    })
}

/// The config folder (credentials, key file).
pub fn config_dir() -> PathBuf {
    env_dir("DTP_CONFIG_DIR").unwrap_or_else(|| {
        env_dir("XDG_CONFIG_HOME")
            .unwrap_or_else(|| home().join(".config"))
            .join("dtp")
    })
}

/// The job store file.
pub fn job_store() -> PathBuf {
    data_dir().join("jobs.sqlite")
}
