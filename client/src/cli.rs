//! Command-line flags (with environment fallbacks) and the [`ClientConfig`] built from them.
//! Every flag of the client lives here. No plugin reads them: the app builder
//! (`crate::app`) turns the config into the plugins' fields.

use std::path::PathBuf;
use std::str::FromStr;

use clap::Parser;
use shared::protocol::signal::ROUND_SECS;

use crate::bot::Script;
use crate::state::{InferencePlacement, JoinIntent, ModelChoice, Screen};

/// The PoseParty game client.
#[derive(Debug, Clone, Parser)]
#[command(name = "client", version, about = "PoseParty: a motion party game for friends on a video call")]
pub struct Cli {
    /// Player name shown to the others (default: the saved one).
    #[arg(long, env = "POSEPARTY_NAME")]
    pub name: Option<String>,
    /// Websocket URL of the matchmaking server (default: the saved one, else
    /// ws://127.0.0.1:7878/ws).
    #[arg(long, env = "POSEPARTY_SERVER")]
    pub server: Option<String>,
    /// Start an embedded server in this process (a one-machine game).
    #[arg(long, env = "POSEPARTY_LOCAL")]
    pub local: bool,
    /// Use only relayed (TURN) candidates for the peer links (testing the relay path).
    #[arg(long, env = "POSEPARTY_ICE_RELAY_ONLY")]
    pub ice_relay_only: bool,
    /// A PEM file of certificates to trust for a wss:// server (e.g. its self-signed one).
    #[arg(long, env = "POSEPARTY_CA_CERT", value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// No window, no audio output: the same plugins for bots, tests and benchmarks.
    #[arg(long, env = "POSEPARTY_HEADLESS")]
    pub headless: bool,
    /// Play automatically: join or create a room (quick match unless `--create` / `--room`
    /// says otherwise), ready up, play a round, leave.
    #[arg(long, env = "POSEPARTY_BOT", conflicts_with = "screen")]
    pub bot: bool,
    /// With `--bot`: the host bot starts the round once this many players are in the room.
    #[arg(long, env = "POSEPARTY_BOT_PLAYERS", default_value_t = 1, requires = "bot",
          value_parser = clap::value_parser!(u16).range(1..=16))]
    pub bot_players: u16,
    /// With `--bot`: the round length in seconds the host bot sets before starting
    /// (10–600; default: the room's setting).
    #[arg(long, env = "POSEPARTY_ROUND_SECS", requires = "bot",
          value_parser = clap::value_parser!(u16).range(i64::from(*ROUND_SECS.start())..=i64::from(*ROUND_SECS.end())))]
    pub round_secs: Option<u16>,
    /// With `--bot`: the host bot plays the deck's routine number N (from 0) in Pose Rush,
    /// once every player has the deck (`--deck` gives the deck).
    #[arg(long, env = "POSEPARTY_BOT_ROUTINE", requires = "bot", value_name = "N")]
    pub bot_routine: Option<u16>,
    /// Join the room with this code on start.
    #[arg(long, env = "POSEPARTY_ROOM", conflicts_with_all = ["create", "quick"])]
    pub room: Option<String>,
    /// Create a room on start.
    #[arg(long, conflicts_with = "quick")]
    pub create: bool,
    /// Quick-match into an open room on start.
    #[arg(long)]
    pub quick: bool,
    /// Frame source: webcam[:INDEX|NAME], frames:DIR[@FPS], synthetic[@FPS], script:hit|miss
    /// (default: the camera setting, else the first webcam).
    #[arg(long, env = "POSEPARTY_SOURCE", value_parser = SourceSpec::from_str)]
    pub source: Option<SourceSpec>,
    /// Open the camera latency test: the window flashes and the time until the camera sees
    /// it is measured (glass-to-glass, ten flashes).
    #[arg(long, conflicts_with_all = ["bot", "screen", "headless"])]
    pub latency_test: bool,
    /// List the cameras found and exit.
    #[arg(long)]
    pub list_cameras: bool,
    /// Pose landmark model.
    #[arg(long, env = "POSEPARTY_MODEL", value_enum)]
    pub model: Option<ModelChoice>,
    /// Where the pose model runs: in the frame schedule, or on a background task.
    #[arg(long, env = "POSEPARTY_INFERENCE", value_enum, default_value_t = InferencePlacement::Frame)]
    pub inference: InferencePlacement,
    /// Save a screenshot to PATH (PNG) after `--screenshot-frames` frames, then exit.
    #[arg(long, value_name = "PATH")]
    pub screenshot: Option<PathBuf>,
    /// Frames to render before taking the `--screenshot`.
    #[arg(long, default_value_t = 45)]
    pub screenshot_frames: u32,
    /// Start on this screen filled with demo data (for screenshots).
    #[arg(long, value_enum)]
    pub screen: Option<Screen>,
    /// A quiz deck (Motion Quiz) or pose routines (Pose Rush) to import: docx, xlsx, pptx,
    /// doc, xls, ppt, hwp, hwpx, odt, ods, odp, pdf, csv, tsv, txt, md, or a zip of one. One
    /// question per table row (`question | choices… | answer`, or columns named 문제 / 정답 /
    /// 오답1 …) or `Q.` / `Answer:` lines; a routine is a row `routine | name | pose [secs] …`.
    /// The host shares it with the room.
    #[arg(long, env = "POSEPARTY_DECK")]
    pub deck: Option<PathBuf>,
    /// Password of an encrypted `--deck` file (asked in the lobby when missing).
    #[arg(long, env = "POSEPARTY_DECK_PASSWORD", requires = "deck", hide_env_values = true)]
    pub deck_password: Option<String>,
    /// Directory of the settings file (default: the user's config directory).
    #[arg(long, env = "POSEPARTY_CONFIG_DIR")]
    pub config_dir: Option<PathBuf>,
    /// No sound at all.
    #[arg(long, env = "POSEPARTY_MUTE")]
    pub mute: bool,
    /// Couch play: the names of the other people in front of this camera (up to three,
    /// comma-separated), each a player of the room with their own score.
    #[arg(long, env = "POSEPARTY_COUCH", value_delimiter = ',', num_args = 1.., value_name = "NAME,…")]
    pub couch: Vec<String>,
    /// No video call: the camera picture is not sent and peers' pictures are not shown.
    #[arg(long, env = "POSEPARTY_NO_VIDEO")]
    pub no_video: bool,
    /// No voice: the microphone is not sent and peers' voices are not played.
    #[arg(long, env = "POSEPARTY_NO_VOICE")]
    pub no_voice: bool,
    /// A synthetic microphone playing a steady tone of this many Hz instead of a sound card
    /// (bots and tests; turns the voice on for a bot).
    #[arg(long, value_name = "HZ")]
    pub mic_tone: Option<f32>,
}

/// Where frames come from.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceSpec {
    /// Pictures: a webcam, a folder of images, a generated picture (parsed by `vision`).
    Pictures(vision::SourceConfig),
    /// Scripted skeletons without a model (bots in tests).
    Script(Script),
}

impl FromStr for SourceSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once(':') {
            Some((kind, spec)) if kind.eq_ignore_ascii_case("script") => spec.parse().map(SourceSpec::Script),
            _ => s.parse().map(SourceSpec::Pictures).map_err(|e: vision::SourceError| e.to_string()),
        }
    }
}

/// The client's configuration for this run. Settings the player can change in the menu live
/// in `crate::settings::Settings`; the flags here override them for this run.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub name: Option<String>,
    pub server: Option<String>,
    pub local: bool,
    /// `--ice-relay-only`.
    pub ice_relay_only: bool,
    /// `--ca-cert`.
    pub ca_cert: Option<PathBuf>,
    pub headless: bool,
    pub bot: bool,
    /// `--bot-players`: the host bot starts once this many players are in the room.
    pub bot_players: usize,
    /// `--round-secs`: the round length the host bot sets.
    pub round_secs: Option<u16>,
    /// `--bot-routine`: the deck routine the host bot plays.
    pub bot_routine: Option<u16>,
    pub join: JoinIntent,
    pub source: Option<SourceSpec>,
    pub list_cameras: bool,
    pub model: Option<ModelChoice>,
    pub inference: InferencePlacement,
    pub screenshot: Option<PathBuf>,
    pub screenshot_frames: u32,
    pub screen: Option<Screen>,
    /// `--latency-test`: open the camera latency test.
    pub latency_test: bool,
    pub deck: Option<PathBuf>,
    pub deck_password: Option<String>,
    pub config_dir: Option<PathBuf>,
    pub mute: bool,
    /// `--couch`: the other people in front of the camera (local seats).
    pub couch: Vec<String>,
    /// The video call (off with `--no-video`; bots and tests leave it off unless asked).
    pub video: bool,
    /// The voice call (off with `--no-voice`; bots leave it off unless given `--mic-tone`).
    pub voice: bool,
    /// `--mic-tone`: a synthetic microphone.
    pub mic_tone: Option<f32>,
}

impl Default for ClientConfig {
    /// No flags given (environment not consulted).
    fn default() -> Self {
        Self {
            name: None,
            server: None,
            local: false,
            ice_relay_only: false,
            ca_cert: None,
            headless: false,
            bot: false,
            bot_players: 1,
            round_secs: None,
            bot_routine: None,
            join: JoinIntent::None,
            source: None,
            list_cameras: false,
            model: None,
            inference: InferencePlacement::Frame,
            screenshot: None,
            screenshot_frames: 45,
            screen: None,
            latency_test: false,
            deck: None,
            deck_password: None,
            config_dir: None,
            mute: false,
            couch: Vec::new(),
            video: false,
            voice: false,
            mic_tone: None,
        }
    }
}

impl From<Cli> for ClientConfig {
    fn from(c: Cli) -> Self {
        let join = match (c.room, c.create, c.quick) {
            (Some(code), _, _) => JoinIntent::Code(code),
            (None, true, _) => JoinIntent::Create,
            (None, false, true) => JoinIntent::Quick,
            // A bot told nothing quick-matches (it has no menu to click).
            _ if c.bot => JoinIntent::Quick,
            _ => JoinIntent::None,
        };
        Self {
            name: c.name,
            server: c.server,
            local: c.local,
            ice_relay_only: c.ice_relay_only,
            ca_cert: c.ca_cert,
            headless: c.headless,
            bot: c.bot,
            bot_players: usize::from(c.bot_players),
            round_secs: c.round_secs,
            bot_routine: c.bot_routine,
            join,
            source: c.source,
            list_cameras: c.list_cameras,
            model: c.model,
            inference: c.inference,
            screenshot: c.screenshot,
            screenshot_frames: c.screenshot_frames,
            screen: c.screen,
            latency_test: c.latency_test,
            deck: c.deck,
            deck_password: c.deck_password,
            config_dir: c.config_dir,
            mute: c.mute,
            couch: c.couch,
            // Bots have no one watching them: no call unless a test asks for it.
            video: !c.no_video && !c.bot,
            voice: !c.no_voice && (!c.bot || c.mic_tone.is_some()),
            mic_tone: c.mic_tone,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse() {
        use vision::SourceConfig;
        use vision::source::CameraSelector;
        let p = |s: &str| s.parse::<SourceSpec>();
        assert_eq!(p("webcam"), Ok(SourceSpec::Pictures(SourceConfig::Camera(CameraSelector::First))));
        assert_eq!(
            p("frames:/tmp/x@30"),
            Ok(SourceSpec::Pictures(SourceConfig::Folder { path: "/tmp/x".into(), fps: 30.0 }))
        );
        assert_eq!(p("script:hit"), Ok(SourceSpec::Script(Script::Hit)));
        assert_eq!(p("SCRIPT:miss"), Ok(SourceSpec::Script(Script::Miss)));
        for bad in ["", "frames:", "frames:/x@fast", "tv", "script:dance", "script:"] {
            let e = p(bad).expect_err(bad);
            assert!(!e.is_empty(), "{bad:?}");
        }
        let e = p("script:dance").unwrap_err();
        assert!(e.contains("script:hit"), "{e}");
    }

    #[test]
    fn flags_build_the_config() {
        let c: ClientConfig =
            Cli::parse_from(["client", "--headless", "--room", "ACDEFG", "--model", "full"]).into();
        assert!(c.headless);
        assert_eq!(c.join, JoinIntent::Code("ACDEFG".into()));
        assert_eq!(c.model, Some(ModelChoice::Full));
        assert!(Cli::try_parse_from(["client", "--room", "X", "--quick"]).is_err());
        let c: ClientConfig = Cli::parse_from(["client", "--screen", "results"]).into();
        assert_eq!(c.screen, Some(Screen::Results));
        let c: ClientConfig =
            Cli::parse_from(["client", "--deck", "quiz.docx", "--deck-password", "Secret123"]).into();
        assert_eq!((c.deck, c.deck_password.as_deref()), (Some("quiz.docx".into()), Some("Secret123")));
        assert!(Cli::try_parse_from(["client", "--deck-password", "x"]).is_err(), "a password needs a deck");
        let c: ClientConfig = Cli::parse_from(["client", "--couch", "지연,하준"]).into();
        assert_eq!(c.couch, ["지연", "하준"]);
        assert!(c.video, "the call is on by default");
        let c: ClientConfig = Cli::parse_from(["client", "--no-video"]).into();
        assert!(!c.video);
        let c: ClientConfig = Cli::parse_from(["client", "--headless", "--bot"]).into();
        assert!(!c.video, "bots leave the call off");
    }

    #[test]
    fn bot_flags() {
        let c: ClientConfig = Cli::parse_from(["client", "--headless", "--bot", "--local"]).into();
        assert!(c.bot && c.local);
        assert_eq!((c.join, c.bot_players, c.round_secs), (JoinIntent::Quick, 1, None), "a bot quick-matches alone");
        let c: ClientConfig =
            Cli::parse_from(["client", "--bot", "--create", "--bot-players", "3", "--round-secs", "10"]).into();
        assert_eq!((c.join, c.bot_players, c.round_secs), (JoinIntent::Create, 3, Some(10)));
        let c: ClientConfig = Cli::parse_from(["client"]).into();
        assert_eq!(c.join, JoinIntent::None, "a player picks in the menu");
        for bad in [
            &["client", "--round-secs", "20"][..],
            &["client", "--bot", "--round-secs", "5"],
            &["client", "--bot", "--bot-players", "0"],
            &["client", "--bot", "--screen", "game"],
        ] {
            assert!(Cli::try_parse_from(bad).is_err(), "{bad:?}");
        }
    }
}
