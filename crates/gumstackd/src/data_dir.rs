//! Where an admin command or the platform finds its data: the data directory and the master key
//! files.

use std::path::PathBuf;

use clap::Args;
use gumstack_platform::PlatformOptions;

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

/// The platform options of a data directory.
pub(crate) fn options(data: &DataDir) -> PlatformOptions {
    let mut options = PlatformOptions::new(&data.data_dir);
    options.master_key_files.clone_from(&data.master_key_files);
    options
}
