//! Links the system libopus (Debian: libopus-dev) found through pkg-config, and compiles
//! `src/echo_shim.cc` (a plain C API over the WebRTC audio-processing module 0.3, Debian:
//! libwebrtc-audio-processing-dev) with the `cc` crate against the headers and library
//! pkg-config reports. libvpx is linked by `env-libvpx-sys`, also through pkg-config.

fn main() {
    if let Err(e) = pkg_config::Config::new()
        .atleast_version("1.1")
        .probe("opus")
    {
        panic!(
            "media: libopus not found through pkg-config ({e}); run ./scripts/setup.sh (libopus-dev)"
        );
    }

    // Probed without cargo metadata so the library is linked *after* the shim (printed
    // below, once the shim's static library has been emitted).
    let apm = match pkg_config::Config::new()
        .atleast_version("0.3")
        .cargo_metadata(false)
        .probe("webrtc-audio-processing")
    {
        Ok(lib) => lib,
        Err(e) => panic!(
            "media: webrtc-audio-processing not found through pkg-config ({e}); \
             run ./scripts/setup.sh (libwebrtc-audio-processing-dev)"
        ),
    };
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .std("c++14")
        .file("src/echo_shim.cc")
        .includes(&apm.include_paths)
        // The library's headers are not warning-clean; our own file is checked by -Wall.
        .flag_if_supported("-Wno-unused-parameter");
    for (name, value) in &apm.defines {
        build.define(name, value.as_deref());
    }
    build.compile("echo_shim");
    for path in &apm.link_paths {
        println!("cargo:rustc-link-search=native={}", path.display());
    }
    for lib in &apm.libs {
        println!("cargo:rustc-link-lib={lib}");
    }
    println!("cargo:rerun-if-changed=src/echo_shim.cc");
    println!("cargo:rerun-if-changed=build.rs");
}
