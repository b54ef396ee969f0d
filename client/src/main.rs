fn main() {
    eprintln!("PoseParty client: not built yet");
    std::process::exit(1);
}
