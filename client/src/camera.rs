//! Camera plugin: the chosen frame source on its own thread, newest frame each frame (issue 3).
