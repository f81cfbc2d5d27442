//! The fragment library: `prompts/manifest.toml` loaded once at start-up, so a missing file is
//! found when the server starts, not when a caller is half-way through a greeting.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use super::fragment::FragmentId;
use super::render::Segment;
use crate::domain::Lang;

/// The manifest's name for language-independent sounds (the beep, silences).
const COMMON: &str = "common";

/// Why the prompts could not be loaded or a fragment not found.
#[derive(Debug, thiserror::Error)]
pub enum SpeechError {
    /// The manifest could not be read.
    #[error("cannot read {path}: {source}")]
    ReadManifest {
        /// The manifest's path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The manifest is not valid TOML of the expected shape.
    #[error("cannot parse {path}: {source}")]
    ParseManifest {
        /// The manifest's path.
        path: PathBuf,
        /// The parser's error.
        source: toml::de::Error,
    },
    /// The manifest names a language this server does not speak.
    #[error("fragment {id}: unknown language {lang:?}")]
    UnknownLanguage {
        /// The fragment.
        id: String,
        /// The language key as written.
        lang: String,
    },
    /// A fragment's file is absolute or leaves the prompts folder.
    #[error("fragment {id}: file {file:?} is not a plain path inside the prompts folder")]
    UnsafePath {
        /// The fragment.
        id: String,
        /// The path as written.
        file: String,
    },
    /// A fragment's file does not exist.
    #[error("fragment {id} ({lang}): missing file {path}")]
    MissingFile {
        /// The fragment.
        id: String,
        /// The language key.
        lang: String,
        /// Where the file should be.
        path: PathBuf,
    },
    /// A fragment has no recording in a language (nor a common one).
    #[error("no fragment {id} in {lang}")]
    MissingFragment {
        /// The fragment.
        id: FragmentId,
        /// The language asked for.
        lang: Lang,
    },
}

/// Every fragment's file, by id and language, checked to exist.
#[derive(Debug, Clone)]
pub struct FragmentLibrary {
    /// id → language key (`da`, `sv`, `en`, `common`) → absolute file.
    files: BTreeMap<String, BTreeMap<String, PathBuf>>,
}

/// `prompts/manifest.toml` as written by `prompts/generate.sh`.
#[derive(Debug, Deserialize)]
struct Manifest {
    /// id → language key → entry.
    fragments: BTreeMap<String, BTreeMap<String, Entry>>,
}

/// One recording of one fragment.
#[derive(Debug, Deserialize)]
struct Entry {
    /// Relative to the manifest's folder.
    file: String,
    /// What is spoken; for people reading the manifest, not used here.
    #[allow(dead_code)]
    text: String,
}

impl FragmentLibrary {
    /// Loads `dir/manifest.toml` and checks that every file it names exists.
    pub fn load(dir: &Path) -> Result<Self, SpeechError> {
        let path = dir.join("manifest.toml");
        let text = std::fs::read_to_string(&path).map_err(|source| SpeechError::ReadManifest {
            path: path.clone(),
            source,
        })?;
        let manifest: Manifest =
            toml::from_str(&text).map_err(|source| SpeechError::ParseManifest {
                path: path.clone(),
                source,
            })?;
        let mut files = BTreeMap::new();
        for (id, entries) in manifest.fragments {
            let mut by_lang = BTreeMap::new();
            for (lang, entry) in entries {
                if lang != COMMON && lang.parse::<Lang>().is_err() {
                    return Err(SpeechError::UnknownLanguage { id, lang });
                }
                let relative = Path::new(&entry.file);
                if !relative
                    .components()
                    .all(|c| matches!(c, Component::Normal(_)))
                {
                    return Err(SpeechError::UnsafePath {
                        id,
                        file: entry.file,
                    });
                }
                let file = dir.join(relative);
                if !file.is_file() {
                    return Err(SpeechError::MissingFile {
                        id,
                        lang,
                        path: file,
                    });
                }
                by_lang.insert(lang, file);
            }
            files.insert(id, by_lang);
        }
        Ok(Self { files })
    }

    /// The file of fragment `id` in `lang`, else its language-independent recording.
    pub fn path(&self, id: &FragmentId, lang: Lang) -> Result<PathBuf, SpeechError> {
        self.files
            .get(id.as_str())
            .and_then(|by_lang| by_lang.get(lang.as_str()).or_else(|| by_lang.get(COMMON)))
            .cloned()
            .ok_or_else(|| SpeechError::MissingFragment {
                id: id.clone(),
                lang,
            })
    }

    /// Whether `id` can be played in `lang`.
    pub fn contains(&self, id: &FragmentId, lang: Lang) -> bool {
        self.path(id, lang).is_ok()
    }

    /// The files of a rendered utterance, with names and silences passed through, so the IVR
    /// can check a prompt before it starts playing it.
    pub fn resolve(&self, segments: &[Segment]) -> Result<Vec<Resolved>, SpeechError> {
        segments
            .iter()
            .map(|segment| {
                Ok(match segment {
                    Segment::Fragment { id, lang } => Resolved::File(self.path(id, *lang)?),
                    Segment::Name(user) => Resolved::Name(*user),
                    Segment::Silence(d) => Resolved::Silence(*d),
                })
            })
            .collect()
    }
}

/// A [`Segment`] with its fragment turned into a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// Play this WAV file.
    File(PathBuf),
    /// Play the user's name (recorded, or the generated name file).
    Name(i64),
    /// Play silence.
    Silence(std::time::Duration),
}
