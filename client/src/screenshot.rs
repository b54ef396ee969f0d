//! `--screenshot PATH`: save a screenshot of the window after N frames, then exit.

use std::path::PathBuf;

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, save_to_disk};

/// Takes the screenshot and quits once the file is written.
pub struct ScreenshotPlugin {
    pub path: PathBuf,
    pub after_frames: u32,
}

#[derive(Debug, Resource)]
struct ScreenshotJob {
    path: PathBuf,
    after_frames: u32,
    frame: u32,
    requested: bool,
}

/// Frames to wait for the file after requesting it before giving up.
const WRITE_TIMEOUT_FRAMES: u32 = 600;

impl Plugin for ScreenshotPlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(ScreenshotJob {
            path: self.path.clone(),
            after_frames: self.after_frames,
            frame: 0,
            requested: false,
        })
        .add_systems(Last, take_screenshot);
    }
}

fn take_screenshot(mut commands: Commands, mut job: ResMut<ScreenshotJob>, mut exit: MessageWriter<AppExit>) {
    job.frame += 1;
    if !job.requested {
        if job.frame >= job.after_frames {
            // Remove an old file so its presence means this run wrote it.
            let _ = std::fs::remove_file(&job.path);
            commands.spawn(Screenshot::primary_window()).observe(save_to_disk(job.path.clone()));
            job.requested = true;
            info!("screenshot requested: {}", job.path.display());
        }
        return;
    }
    let written = std::fs::metadata(&job.path).is_ok_and(|m| m.len() > 0);
    if written {
        info!("screenshot saved: {}", job.path.display());
        exit.write(AppExit::Success);
    } else if job.frame > job.after_frames + WRITE_TIMEOUT_FRAMES {
        error!("the screenshot {} was not written in time", job.path.display());
        exit.write(AppExit::error());
    }
}
