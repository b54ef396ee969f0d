//! Game rules and scoring: pure functions over [`crate::pose::Skeleton`]s (issue 5).
