//! The PoseParty client as a library: one Bevy plugin per capability (issue 5).
