//! Headless bot mode: join, ready, play a round, leave (issue 4).
