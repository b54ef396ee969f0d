//! The `server` binary: starts from flags, serves, and stops gracefully on SIGTERM.

mod common;

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{closed, hello, recv_raw, send_raw};
use shared::protocol::signal::{ClientMsg, LeaveReason, RoomSettings, ServerMsg};

#[cfg(unix)]
#[tokio::test]
async fn sigterm_closes_clients_with_going_away_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let db = dir.path().join("history.sqlite3");
    let mut child = Command::new(env!("CARGO_BIN_EXE_server"))
        .args(["--bind", "127.0.0.1:0", "--stun-port", "0", "--log-json", "--db"])
        .arg(&db)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting the server binary: {e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));

    // The listening line carries the bound address.
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
            if let Some(http) = v.pointer("/fields/http").and_then(|h| h.as_str()) {
                let _ = addr_tx.send(http.to_owned());
            }
        }
    });
    let addr = addr_rx.recv_timeout(Duration::from_secs(20)).unwrap_or_else(|e| panic!("server did not report its address: {e}"));

    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await.unwrap_or_else(|e| panic!("connect: {e}"));
    send_raw(&mut ws, &hello("term", None)).await;
    assert!(matches!(recv_raw(&mut ws).await, Ok(ServerMsg::Welcome { .. })));
    send_raw(&mut ws, &ClientMsg::CreateRoom { settings: RoomSettings::default() }).await;
    assert!(matches!(recv_raw(&mut ws).await, Ok(ServerMsg::Room(_))));

    let pid = i32::try_from(child.id()).unwrap_or_else(|e| panic!("pid: {e}"));
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    assert_eq!(recv_raw(&mut ws).await.ok(), Some(ServerMsg::LeftRoom { reason: LeaveReason::ServerShutdown }));
    assert_eq!(closed(&mut ws).await, Some(1001));

    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap_or_else(|e| panic!("wait: {e}")) {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server did not exit within 10 s of SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "exit status {status}");
    assert!(db.exists(), "the history database was created");
}
