//! SSD anchors of the BlazePose detector (224×224 input).
//!
//! Strides 8, 16, 32, 32, 32 with two anchors per cell per layer; consecutive layers with
//! the same stride share one grid, so the 7×7 grid has 6 anchors per cell. Anchors have a
//! fixed size, so only their centres matter. Order: grid by grid, row by row, cell by cell.

/// Number of anchors (and detector output rows).
pub const ANCHOR_COUNT: usize = 2254;
/// Detector input side in pixels.
pub const DETECTOR_INPUT: u32 = 224;

const STRIDES: [u32; 5] = [8, 16, 32, 32, 32];
const ANCHORS_PER_LAYER: usize = 2;

/// An anchor centre in normalised detector-input coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Anchor {
    pub x: f32,
    pub y: f32,
}

/// Generates the anchors in model output order.
pub fn generate() -> Vec<Anchor> {
    let mut anchors = Vec::with_capacity(ANCHOR_COUNT);
    let mut layer = 0;
    while layer < STRIDES.len() {
        let stride = STRIDES[layer];
        let same = STRIDES[layer..].iter().take_while(|&&s| s == stride).count();
        let grid = DETECTOR_INPUT.div_ceil(stride);
        for y in 0..grid {
            for x in 0..grid {
                let centre = Anchor { x: (x as f32 + 0.5) / grid as f32, y: (y as f32 + 0.5) / grid as f32 };
                anchors.extend(std::iter::repeat_n(centre, same * ANCHORS_PER_LAYER));
            }
        }
        layer += same;
    }
    anchors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_are_2254_anchors_in_grid_order() {
        let a = generate();
        assert_eq!(a.len(), ANCHOR_COUNT);
        // 28×28×2, then 14×14×2, then 7×7×6.
        assert_eq!(a[0], Anchor { x: 0.5 / 28.0, y: 0.5 / 28.0 });
        assert_eq!(a[1], a[0]);
        assert_eq!(a[2], Anchor { x: 1.5 / 28.0, y: 0.5 / 28.0 });
        assert_eq!(a[28 * 28 * 2], Anchor { x: 0.5 / 14.0, y: 0.5 / 14.0 });
        let last_grid = 28 * 28 * 2 + 14 * 14 * 2;
        assert_eq!(a[last_grid + 5], Anchor { x: 0.5 / 7.0, y: 0.5 / 7.0 });
        assert_eq!(a[last_grid + 6], Anchor { x: 1.5 / 7.0, y: 0.5 / 7.0 });
        assert_eq!(a[ANCHOR_COUNT - 1], Anchor { x: 6.5 / 7.0, y: 6.5 / 7.0 });
    }
}
