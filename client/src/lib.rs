//! The PoseParty client as a library: one Bevy plugin per capability.

pub mod bot;
pub mod camera;
pub mod net;
pub mod pose;
