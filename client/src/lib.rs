//! The PoseParty client as a library: one Bevy plugin per capability, assembled by
//! [`app::build_app`] for the binary, tests, benchmarks and bots.
//!
//! - [`cli`]: flags and the [`cli::ClientConfig`] resource.
//! - [`settings`]: persisted player settings.
//! - [`session`]: the contract with the network plugin (commands, events, room view).
//! - [`flow`]: screens as Bevy states and the moves between them.
//! - [`game`]: rounds driven by `shared::rules`.
//! - [`deck`]: the quiz deck.
//! - [`audio`]: synthesized music and effects.
//! - [`ui`], [`fonts`]: the egui screens and the bundled Hangul font.
//! - [`demo`], [`screenshot`]: `--screen` demo data and `--screenshot`.

pub mod app;
pub mod audio;
pub mod bot;
pub mod camera;
pub mod cli;
pub mod deck;
pub mod demo;
pub mod flow;
pub mod fonts;
pub mod game;
pub mod net;
pub mod pose;
pub mod screenshot;
pub mod session;
pub mod settings;
pub mod ui;
