//! Links the system libopus (Debian: libopus-dev) found through pkg-config. libvpx is linked
//! by `env-libvpx-sys`, also through pkg-config.

fn main() {
    if let Err(e) = pkg_config::Config::new()
        .atleast_version("1.1")
        .probe("opus")
    {
        panic!(
            "media: libopus not found through pkg-config ({e}); run ./scripts/setup.sh (libopus-dev)"
        );
    }
}
