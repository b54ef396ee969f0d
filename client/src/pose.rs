//! Pose plugin: staged model loading off the frame loop, inference in the frame schedule (issue 3).
