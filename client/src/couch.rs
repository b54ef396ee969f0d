//! Couch play: up to four people in front of one camera, each a player of the room.
//!
//! The device's own player is seat 0; the other people on the couch are local seats 1–3,
//! named in [`CouchPlugin::names`]. The plugin
//! - asks the server for the local seats once the device is in a room's lobby
//!   (`ClientMsg::SetLocalSeats`; each seat becomes a player with its own id);
//! - puts each person the pose model tracks ([`SeenPeople`]) in a seat: left to right on the
//!   screen when they take their seats (at first, and again with [`Couch::retake`] from
//!   "find your spot" on the loading screen), then by the tracker's identity, so two people who pass
//!   each other keep their seats; seat 0's skeleton goes to [`PlayerPose`], the others' to
//!   [`SeatPoses`] (the game scores each seat on its own);
//! - gives each seat its colour ([`seat_colour`]).

use bevy::prelude::*;
use shared::protocol::signal::{PeerId, RoomPhase, RoomSnapshot};
use vision::people::{PersonId, TrackedPerson};

use crate::pose::PoseSystems;
use crate::session::{MeshCommand, NetCommand, Session};
use crate::settings::{Settings, couch_names};
use crate::state::{ClientSet, PeopleWanted, PlayerPose, SeatPoses, SeenPeople};

/// Local seats besides the device's own player.
#[derive(Debug, Clone, Default)]
pub struct CouchPlugin {
    /// Names of the other people on the camera, seats 1, 2, 3 (at most three). With the
    /// settings plugin, the saved couch names (changed in the menu) replace them.
    pub names: Vec<String>,
}

/// Who sits where.
#[derive(Debug, Clone, Default, Resource)]
pub struct Couch {
    /// Local seat names (seats 1…).
    pub names: Vec<String>,
    /// The tracked person in each seat (index = seat; seat 0 is the device's player).
    pub seats: Vec<Option<PersonId>>,
    /// Set (by the "find your spot" step) to seat everyone again, left to right as the
    /// screen shows them; taken by the next seating.
    pub retake: bool,
}

impl Couch {
    /// Seats in all: the device's player and the local seats.
    pub fn seat_count(&self) -> usize {
        1 + self.names.len()
    }

    /// The seat `person` sits in, if any.
    pub fn seat_of(&self, person: PersonId) -> Option<u8> {
        self.seats.iter().position(|s| *s == Some(person)).and_then(|i| u8::try_from(i).ok())
    }

    /// New local seat names: everyone takes their seat again.
    pub fn set_names(&mut self, names: Vec<String>) {
        if names != self.names {
            self.seats = vec![None; 1 + names.len()];
            self.names = names;
            self.retake = true;
        }
    }

    /// The seat's name as the room shows it (`me` is seat 0).
    pub fn seat_name(&self, seat: u8, me: &str) -> String {
        match seat {
            0 => me.to_owned(),
            n => self.names.get(usize::from(n) - 1).cloned().unwrap_or_else(|| format!("#{n}")),
        }
    }
}

/// The colour of a seat (RGB): one per seat, distinct on the dark screens.
pub fn seat_colour(seat: u8) -> [u8; 3] {
    match seat % 4 {
        0 => [255, 196, 64],
        1 => [90, 200, 250],
        2 => [255, 110, 170],
        _ => [140, 230, 120],
    }
}

impl Plugin for CouchPlugin {
    fn build(&self, app: &mut App) {
        let names = couch_names(self.names.iter().map(String::as_str));
        let seats = vec![None; 1 + names.len()];
        app.insert_resource(PeopleWanted(1 + names.len()))
            .insert_resource(Couch { names, seats, retake: false })
            .add_systems(
                Update,
                (
                    follow_settings.run_if(resource_exists::<Settings>.and_then(resource_changed::<Settings>)),
                    seat_people.after(PoseSystems),
                )
                    .chain()
                    .in_set(ClientSet::Pose),
            )
                        // Only with the network's session (benchmarks seat people without one).
            .add_systems(Update, ask_for_seats.in_set(ClientSet::Net).run_if(resource_exists::<Session>));
    }
}

/// The seats after this frame: with `retake`, everyone left to right on the screen;
/// otherwise people keep their seats while tracked, and a free seat takes the leftmost
/// person without one. `mirror`: the screen shows the picture mirrored (its left is the
/// picture's right).
pub fn assign_seats(
    people: &[TrackedPerson],
    current: &[Option<PersonId>],
    mirror: bool,
    retake: bool,
) -> Vec<Option<PersonId>> {
    let mut order: Vec<&TrackedPerson> = people.iter().collect();
    order.sort_by(|a, b| {
        let (xa, xb) = if mirror { (-a.center.0, -b.center.0) } else { (a.center.0, b.center.0) };
        xa.total_cmp(&xb).then(a.id.0.cmp(&b.id.0))
    });
    let present = |id: PersonId| people.iter().any(|p| p.id == id);
    let mut seats: Vec<Option<PersonId>> = if retake {
        vec![None; current.len()]
    } else {
        current.iter().map(|s| s.filter(|id| present(*id))).collect()
    };
    let seated: Vec<PersonId> = seats.iter().flatten().copied().collect();
    let mut free = order.into_iter().map(|p| p.id).filter(|id| !seated.contains(id));
    for seat in seats.iter_mut().filter(|s| s.is_none()) {
        *seat = free.next();
    }
    seats
}

/// The saved couch names, outside a room (a round's seats stay as they were announced).
fn follow_settings(settings: Res<Settings>, session: Option<Res<Session>>, mut couch: ResMut<Couch>, mut wanted: ResMut<PeopleWanted>) {
    if session.is_some_and(|s| s.room.is_some()) || settings.couch == couch.names {
        return;
    }
    couch.set_names(settings.couch.clone());
    wanted.0 = couch.seat_count();
    info!(seats = couch.seat_count(), "couch seats changed");
}

fn seat_people(
    seen: Res<SeenPeople>,
    settings: Option<Res<Settings>>,
    mut couch: ResMut<Couch>,
    mut pose: ResMut<PlayerPose>,
    mut seat_poses: ResMut<SeatPoses>,
) {
    // One seat: the pose plugin writes the player's skeleton itself.
    if couch.names.is_empty() {
        if !seat_poses.0.is_empty() {
            seat_poses.0.clear();
        }
        return;
    }
    if !seen.is_changed() && !couch.retake {
        return;
    }
    let retake = std::mem::take(&mut couch.retake);
    let mirror = settings.is_some_and(|s| s.mirror);
    let seats = assign_seats(&seen.people, &couch.seats, mirror, retake);
    let skeleton_of = |seat: Option<PersonId>| {
        seat.and_then(|id| seen.people.iter().find(|p| p.id == id)).map(|p| p.skeleton.clone())
    };
    pose.skeleton = skeleton_of(seats.first().copied().flatten());
    seat_poses.0 = seats.iter().skip(1).map(|s| skeleton_of(*s)).collect();
    if seats != couch.seats {
        debug!(?seats, "couch seats");
        couch.seats = seats;
    }
}

/// The local seats this device has in `room` (by name), if it is in one.
fn local_names(room: &RoomSnapshot, me: PeerId) -> Vec<&str> {
    room.local_seats(me).map(|p| p.name.as_str()).collect()
}

/// In a room's lobby, asks for the local seats once per room (the server may rename a seat
/// that clashes with someone's name, so the ask is not repeated for the same room).
fn ask_for_seats(session: Res<Session>, couch: Res<Couch>, mut asked: Local<Option<String>>, mut net: MessageWriter<NetCommand>) {
    let (Some(room), Some(me)) = (&session.room, session.my_id()) else {
        *asked = None;
        return;
    };
    if room.phase != RoomPhase::Lobby || asked.as_deref() == Some(room.code.as_str()) {
        return;
    }
    *asked = Some(room.code.clone());
    if couch.names.is_empty() && local_names(room, me).is_empty() {
        return;
    }
    info!(seats = couch.seat_count(), "asking for the couch seats");
    net.write(MeshCommand::SetLocalSeats(couch.names.clone()).into());
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::pose::Skeleton;
    use vision::geometry::Roi;

    fn person(id: u32, x: f32) -> TrackedPerson {
        TrackedPerson {
            id: PersonId(id),
            skeleton: Skeleton::default(),
            center: (x, 300.0),
            roi: Roi { cx: x, cy: 300.0, size: 200.0, rotation: 0.0 },
            detected: false,
        }
    }

    #[test]
    fn couch_names_from_the_menu_change_the_seats_and_the_people_tracked() {
        let mut app = App::new();
        app.add_plugins((MinimalPlugins, bevy::state::app::StatesPlugin, crate::state::StatePlugin, CouchPlugin::default()));
        app.insert_resource(Settings::default());
        app.update();
        assert_eq!(app.world().resource::<PeopleWanted>().0, 1);
        app.world_mut().resource_mut::<Settings>().couch = vec!["지연".into(), "하준".into()];
        app.update();
        let couch = app.world().resource::<Couch>();
        assert_eq!(couch.names, ["지연", "하준"]);
        assert_eq!(couch.seats.len(), 3);
        assert_eq!(app.world().resource::<PeopleWanted>().0, 3);
        // Back to one player: nothing is seated by the couch any more.
        app.world_mut().resource_mut::<Settings>().couch.clear();
        app.update();
        assert_eq!(app.world().resource::<PeopleWanted>().0, 1);
        assert!(app.world().resource::<SeatPoses>().0.is_empty());
    }

    #[test]
    fn couch_seats_are_taken_left_to_right_and_kept_when_people_cross() {
        let a = person(1, 400.0);
        let b = person(2, 100.0);
        // Left to right on an unmirrored screen: b (x 100) is seat 0.
        let seats = assign_seats(&[a.clone(), b.clone()], &[None, None], false, true);
        assert_eq!(seats, [Some(PersonId(2)), Some(PersonId(1))]);
        // Mirrored, the screen's left is the picture's right.
        assert_eq!(assign_seats(&[a.clone(), b.clone()], &[None, None], true, true), [Some(PersonId(1)), Some(PersonId(2))]);
        // They swap places: the seats follow the people, not the positions.
        let crossed = [person(1, 90.0), person(2, 420.0)];
        assert_eq!(assign_seats(&crossed, &seats, false, false), seats);
        // Taking the seats again puts them left to right once more.
        assert_eq!(assign_seats(&crossed, &seats, false, true), [Some(PersonId(1)), Some(PersonId(2))]);
    }

    #[test]
    fn couch_a_free_seat_takes_the_next_person_and_a_lost_person_frees_theirs() {
        let seats = [Some(PersonId(1)), Some(PersonId(2))];
        // Person 2 left the picture: their seat is free until someone else is seen.
        assert_eq!(assign_seats(&[person(1, 100.0)], &seats, false, false), [Some(PersonId(1)), None]);
        // A newcomer (id 3) takes the free seat; seat 0 stays with person 1.
        assert_eq!(assign_seats(&[person(3, 50.0), person(1, 300.0)], &[Some(PersonId(1)), None], false, false), [Some(PersonId(1)), Some(PersonId(3))]);
        // More people than seats: the leftmost ones get the seats.
        assert_eq!(assign_seats(&[person(5, 500.0), person(4, 20.0), person(6, 250.0)], &[None, None], false, false), [Some(PersonId(4)), Some(PersonId(6))]);
    }
}
