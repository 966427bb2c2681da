//! Where an admin command or the platform finds its data — the data directory and the master
//! key files — and opening it without a listener for an admin command.

use std::io::BufRead as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use gumstack_platform::{Platform, PlatformOptions};
use secrecy::SecretString;

#[derive(Debug, Args)]
pub(crate) struct DataDir {
    /// Where the database and the master key live.
    #[arg(long, env = "GUMSTACK_DATA_DIR", default_value = "gumstack-data")]
    data_dir: PathBuf,
    /// An operator-supplied master key file (mode 0600) instead of `<data-dir>/master.key`;
    /// repeat for several (the last key of the last file is the active one).
    #[arg(
        long = "master-key-file",
        env = "GUMSTACK_MASTER_KEY_FILE",
        value_name = "PATH"
    )]
    master_key_files: Vec<PathBuf>,
}

impl DataDir {
    /// The platform's options for this data directory.
    pub(crate) fn options(&self) -> PlatformOptions {
        let mut options = PlatformOptions::new(&self.data_dir);
        options.master_key_files.clone_from(&self.master_key_files);
        options
    }
}

/// The platform options of a data directory.
pub(crate) fn options(data: &DataDir) -> PlatformOptions {
    data.options()
}

/// Opens a data directory for an admin command (no listener).
pub(crate) async fn open_offline(data: &DataDir) -> anyhow::Result<Platform> {
    open_offline_with(data, |_| {}).await
}

/// [`open_offline`] with options of the command's own.
pub(crate) async fn open_offline_with(
    data: &DataDir,
    configure: impl FnOnce(&mut PlatformOptions),
) -> anyhow::Result<Platform> {
    let unbound: SocketAddr = ([127, 0, 0, 1], 0).into();
    let mut options = data.options();
    // An admin command is not a platform instance (`key rotate` would wait for it).
    options.register_instance = false;
    configure(&mut options);
    Ok(Platform::open(options, unbound).await?)
}

pub(crate) fn read_password(from_stdin: bool) -> anyhow::Result<Option<SecretString>> {
    if !from_stdin {
        return Ok(None);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(Some(SecretString::from(
        line.trim_end_matches(['\r', '\n']).to_owned(),
    )))
}
