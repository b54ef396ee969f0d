//! Prints the pose library as JSON: every pose's key and names, its constraints (feature,
//! range, tolerance) and the posture its fixture is built from (limb directions per side and
//! lean, degrees). `scripts/rendered/generate.py` poses its rendered people from this, so the
//! rendered set's truth is the library's own definition.
//!
//! `cargo run -p shared --example pose_library > pose_library.json`

use shared::rules::PoseId;
use shared::rules::fixtures::{SideLimbs, posture};
use shared::rules::poses::MATCH_THRESHOLD;

fn side(l: SideLimbs) -> String {
    format!(
        "{{\"upper_arm\": {}, \"forearm\": {}, \"thigh\": {}, \"shin\": {}}}",
        l.upper_arm, l.forearm, l.thigh, l.shin
    )
}

fn posture_json(pose: Option<PoseId>) -> String {
    let (l, r, lean) = posture(pose);
    format!("{{\"left\": {}, \"right\": {}, \"lean\": {}}}", side(l), side(r), lean)
}

fn main() {
    let mut poses = Vec::new();
    for p in PoseId::ALL {
        let constraints: Vec<String> = p
            .constraints()
            .iter()
            .map(|c| {
                format!(
                    "{{\"feature\": \"{:?}\", \"lo\": {}, \"hi\": {}, \"tolerance\": {}}}",
                    c.feature, c.lo, c.hi, c.tolerance
                )
            })
            .collect();
        poses.push(format!(
            "    {{\"key\": \"{}\", \"name\": \"{}\", \"mirrored\": \"{}\", \"posture\": {}, \"constraints\": [{}]}}",
            p.key(),
            p.name_en(),
            p.mirrored().key(),
            posture_json(Some(p)),
            constraints.join(", ")
        ));
    }
    println!(
        "{{\n  \"match_threshold\": {MATCH_THRESHOLD},\n  \"neutral\": {},\n  \"poses\": [\n{}\n  ]\n}}",
        posture_json(None),
        poses.join(",\n")
    );
}
