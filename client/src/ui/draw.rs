//! Drawing helpers: skeletons over a picture.

use bevy_egui::egui;
use shared::pose::{CONNECTIONS, Skeleton};

/// Joints below this visibility are not drawn.
const DRAW_VISIBILITY: f32 = 0.5;

/// Draws `skeleton` (normalised picture coordinates) into `rect`, which shows the picture
/// region `view` (normalised, e.g. `[0,0]–[1,1]` for the whole picture). `mirror` flips it
/// left-right like the mirrored picture.
pub fn draw_skeleton(
    painter: &egui::Painter,
    rect: egui::Rect,
    view: egui::Rect,
    skeleton: &Skeleton,
    mirror: bool,
    color: egui::Color32,
    width: f32,
) {
    let to_screen = |x: f32, y: f32| {
        let x = if mirror { 1.0 - x } else { x };
        egui::pos2(
            rect.min.x + (x - view.min.x) / view.width().max(1e-6) * rect.width(),
            rect.min.y + (y - view.min.y) / view.height().max(1e-6) * rect.height(),
        )
    };
    let painter = painter.with_clip_rect(rect);
    for (a, b) in CONNECTIONS {
        let (p, q) = (skeleton.get(*a), skeleton.get(*b));
        if p.visibility < DRAW_VISIBILITY || q.visibility < DRAW_VISIBILITY {
            continue;
        }
        painter.line_segment([to_screen(p.x, p.y), to_screen(q.x, q.y)], egui::Stroke::new(width, color));
    }
    for lm in &skeleton.landmarks {
        if lm.visibility >= DRAW_VISIBILITY {
            painter.circle_filled(to_screen(lm.x, lm.y), width * 0.9, egui::Color32::WHITE);
        }
    }
}

/// The whole picture.
pub const FULL_VIEW: egui::Rect = egui::Rect { min: egui::pos2(0.0, 0.0), max: egui::pos2(1.0, 1.0) };

/// The part of a synthetic skeleton's picture that holds the body (for pose icons).
pub const BODY_VIEW: egui::Rect = egui::Rect { min: egui::pos2(0.1, 0.04), max: egui::pos2(0.9, 1.02) };

/// The largest rect of `aspect` (width / height) centred in `outer`.
pub fn fit(outer: egui::Rect, aspect: f32) -> egui::Rect {
    let aspect = if aspect.is_finite() && aspect > 0.0 { aspect } else { 4.0 / 3.0 };
    let (w, h) = if outer.width() / outer.height().max(1.0) > aspect {
        (outer.height() * aspect, outer.height())
    } else {
        (outer.width(), outer.width() / aspect)
    };
    egui::Rect::from_center_size(outer.center(), egui::vec2(w, h))
}
