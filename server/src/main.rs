//! `server` binary: runs the PoseParty server until Ctrl-C or SIGTERM.

use anyhow::Context as _;
use clap::Parser as _;
use server::Config;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    if config.log_json {
        tracing_subscriber::fmt().json().with_env_filter(filter).init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    raise_fd_limit();

    let db = config.db.clone();
    let running = server::spawn(config).await.with_context(|| format!("starting the server (history at {})", db.display()))?;
    tracing::info!(ws = %running.ws_url(), stun = %running.stun_addr(), db = %db.display(), "PoseParty server ready");

    wait_for_signal().await?;
    running.shutdown().await;
    Ok(())
}

/// Each client is a socket: lift the soft open-files limit to the hard one.
fn raise_fd_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => tracing::debug!(limit = n, "open-files limit"),
        Err(e) => tracing::warn!(error = %e, "could not raise the open-files limit; many clients may be refused"),
    }
}

async fn wait_for_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    Ok(())
}
