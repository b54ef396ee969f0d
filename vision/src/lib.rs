//! Camera sources and the BlazePose pose pipeline (issue 3).
