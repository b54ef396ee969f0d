//! The PoseParty client binary: parse the flags, build the app, run it.

use anyhow::Context as _;
use clap::Parser;
use client::app::{AppMode, build_app};
use client::cli::{Cli, ClientConfig};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = ClientConfig::from(cli);
    if config.list_cameras {
        // The binary's own output, not a log line.
        print!("{}", client::camera::list_cameras_text());
        return Ok(());
    }
    let mode = if config.headless { AppMode::Headless } else { AppMode::Windowed };
    if mode == AppMode::Headless {
        // The windowed app logs through Bevy's LogPlugin; headless sets up its own.
        tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(client::LOG_FILTER)),
            )
            .try_init()
            .map_err(|e| anyhow::anyhow!(e))
            .context("could not set up logging")?;
    }
    match build_app(config, mode).run() {
        bevy::app::AppExit::Success => Ok(()),
        bevy::app::AppExit::Error(code) => std::process::exit(i32::from(code.get())),
    }
}
