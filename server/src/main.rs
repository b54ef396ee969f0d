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

    // Handlers first: a signal that comes as soon as the port is open must not kill us.
    let stop = stop_signal()?;
    // Without the password a PostgreSQL URL may carry.
    let db = server::store::describe(&config.db);
    let running = server::spawn(config).await.with_context(|| format!("starting the server (history at {db})"))?;
    tracing::info!(ws = %running.ws_url(), stun = %running.stun_addr(), %db, "PoseParty server ready");

    stop.await?;
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

/// Installs the Ctrl-C / SIGTERM handlers now; the returned future resolves on either.
fn stop_signal() -> anyhow::Result<impl Future<Output = anyhow::Result<()>>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("installing the Ctrl-C handler")?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received"),
                _ = int.recv() => tracing::info!("Ctrl-C received"),
            }
            Ok(())
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async { tokio::signal::ctrl_c().await.context("waiting for Ctrl-C") })
    }
}
