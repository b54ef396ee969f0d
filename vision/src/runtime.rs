//! Finding and loading the ONNX Runtime shared library, with no environment variable needed.
//!
//! Search order: `ORT_DYLIB_PATH` when set (it must then exist), next to the executable,
//! `../lib` beside the executable, `.ort/` in the current directory and its ancestors, and
//! finally the project's `.ort/` as known at compile time (where `scripts/setup.sh` puts it).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ort::environment::Environment;

use crate::VisionError;

/// File name of the library on this platform (`libonnxruntime.so` on Linux).
pub fn library_file_name() -> String {
    format!("{}onnxruntime{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX)
}

/// Where to look for the library.
#[derive(Debug, Clone)]
pub struct RuntimeSearch {
    /// An explicit path (from `ORT_DYLIB_PATH`); when set it is the only candidate.
    pub explicit: Option<PathBuf>,
    /// Candidate files, tried in order.
    pub candidates: Vec<PathBuf>,
}

impl RuntimeSearch {
    /// The standard search (see the module docs).
    pub fn standard() -> RuntimeSearch {
        let name = library_file_name();
        let explicit = std::env::var_os("ORT_DYLIB_PATH").filter(|v| !v.is_empty()).map(PathBuf::from);
        let mut candidates = Vec::new();
        if let Some(dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf)) {
            candidates.push(dir.join(&name));
            candidates.push(dir.join("..").join("lib").join(&name));
        }
        if let Ok(cwd) = std::env::current_dir() {
            candidates.extend(cwd.ancestors().map(|d| d.join(".ort").join(&name)));
        }
        candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(".ort").join(&name));
        RuntimeSearch { explicit, candidates }
    }

    /// The first existing candidate, or an error naming every place searched.
    pub fn locate(&self) -> Result<PathBuf, VisionError> {
        if let Some(path) = &self.explicit {
            return if path.is_file() {
                Ok(path.clone())
            } else {
                Err(VisionError::RuntimeEnvPathMissing { path: path.clone() })
            };
        }
        self.candidates.iter().find(|p| p.is_file()).cloned().ok_or_else(|| VisionError::RuntimeMissing {
            searched: self.candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
        })
    }
}

static ENVIRONMENT: Mutex<Option<(Environment, PathBuf)>> = Mutex::new(None);

/// The process-wide ONNX Runtime environment, loading the library on first use.
///
/// A failure is not cached: after running `scripts/setup.sh` a later call can succeed.
pub fn environment() -> Result<Environment, VisionError> {
    let mut slot = ENVIRONMENT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((env, _)) = slot.as_ref() {
        return Ok(env.clone());
    }
    let path = RuntimeSearch::standard().locate()?;
    let env = load(&path)?;
    tracing::info!(path = %path.display(), "loaded ONNX Runtime");
    *slot = Some((env.clone(), path));
    Ok(env)
}

/// Path of the loaded library, if [`environment`] has succeeded.
pub fn loaded_library() -> Option<PathBuf> {
    ENVIRONMENT.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(|(_, p)| p.clone())
}

fn load(path: &Path) -> Result<Environment, VisionError> {
    let load_err = |reason: String| VisionError::RuntimeLoad { path: path.to_path_buf(), reason };
    ort::init_from(path)
        .map_err(|e| load_err(e.to_string()))?
        .with_name("poseparty")
        .with_telemetry(false)
        .build()
        .map_err(|e| load_err(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_library_names_setup_script_and_places() {
        let search = RuntimeSearch {
            explicit: None,
            candidates: vec![PathBuf::from("/nonexistent/a/libonnxruntime.so"), PathBuf::from("/nonexistent/b/libonnxruntime.so")],
        };
        let err = search.locate().unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, VisionError::RuntimeMissing { .. }));
        assert!(msg.contains("run scripts/setup.sh"), "{msg}");
        assert!(msg.contains("/nonexistent/a/libonnxruntime.so") && msg.contains("/nonexistent/b/"), "{msg}");
    }

    #[test]
    fn explicit_path_must_exist_and_wins() {
        let dir = tempfile::tempdir().unwrap();
        let present = dir.path().join("libonnxruntime.so");
        std::fs::write(&present, b"x").unwrap();
        let other = dir.path().join("other.so");
        std::fs::write(&other, b"x").unwrap();
        let search = RuntimeSearch { explicit: Some(present.clone()), candidates: vec![other.clone()] };
        assert_eq!(search.locate().unwrap(), present);
        let missing = RuntimeSearch { explicit: Some(dir.path().join("gone.so")), candidates: vec![other.clone()] };
        assert!(matches!(missing.locate(), Err(VisionError::RuntimeEnvPathMissing { .. })));
        let fallback = RuntimeSearch { explicit: None, candidates: vec![dir.path().join("gone.so"), other.clone()] };
        assert_eq!(fallback.locate().unwrap(), other);
    }

    #[test]
    fn standard_search_finds_the_project_library() {
        // scripts/setup.sh puts the library into the project's .ort/, which the standard search
        // must find without ORT_DYLIB_PATH.
        let search = RuntimeSearch { explicit: None, ..RuntimeSearch::standard() };
        let found = search.locate().expect("run scripts/setup.sh first");
        assert!(found.ends_with(Path::new(".ort").join(library_file_name())), "{}", found.display());
    }
}
