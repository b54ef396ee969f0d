//! The PoseParty client as a library: one Bevy plugin per capability, assembled by
//! [`app::build_app`] for the binary, tests, benchmarks and bots.
//!
//! Modules, each with one job (imports go down this list's dependency order: nothing imports
//! `app`, and `state` imports nothing from the crate):
//! - [`state`]: the types plugins share (screens, the newest frame, the model's status, the
//!   player's pose) and the ordered stages of a frame (`ClientSet`).
//! - [`cli`]: the command-line flags, parsed into a [`cli::ClientConfig`].
//! - [`app`]: turns the config into plugins and their fields; builds the app.
//! - [`settings`]: the player's saved settings.
//! - [`session`]: the contract with the network plugin (commands, events, room view).
//! - [`net`]: the network plugin over the `mesh` crate (and the embedded server).
//! - [`camera`]: the frame source; [`pose`]: the pose model; [`couch`]: several people in
//!   front of one camera, each in their seat.
//! - [`flow`]: the moves between screens.
//! - [`flash`]: the camera latency test (the window flashes, the camera sees it).
//! - [`game`]: rounds driven by `shared::rules`.
//! - [`call`]: the video call (camera pictures to and from the other players).
//! - [`deck`]: the quiz deck: import and sharing.
//! - [`audio`]: synthesized music and effects.
//! - [`ui`], [`fonts`]: the egui screens and the bundled Hangul font.
//! - [`bot`]: headless bots; [`demo`], [`screenshot`]: `--screen` demo data and
//!   `--screenshot`.

pub mod app;
pub mod audio;
pub mod bot;
pub mod call;
pub mod camera;
pub mod cli;
pub mod couch;
pub mod deck;
pub mod demo;
pub mod flash;
pub mod flow;
pub mod fonts;
pub mod game;
pub mod media_state;
pub mod net;
pub mod pose;
pub mod screenshot;
pub mod session;
pub mod settings;
pub mod state;
pub mod ui;
pub mod voice;

/// The default log filter: our crates at `info`, dependencies at `warn` (the WebRTC stack's
/// connection chatter included). `RUST_LOG` overrides it.
pub const LOG_FILTER: &str = "warn,client=info,server=info,mesh=info,vision=info,doctext=info,shared=info";
