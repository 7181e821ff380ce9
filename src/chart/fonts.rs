//! Fonts for charts, found at run time, and drawing text with them.
//!
//! Labels are usually Chinese department names, which need a CJK font to draw. No font ships with
//! the crate; fonts are looked up at run time (see [`find_fonts`]), and charts degrade to numbered
//! axes, then to no text at all, when none is available.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontFamily, FontStyle, FontTransform};

pub const TICK_FONT: f64 = 13.0;
pub const TITLE_FONT: f64 = 15.0;


/// Font file names that, in the usual Linux packages, carry CJK glyphs.
const CJK_NAME_HINTS: [&str; 6] = ["cjk", "droid", "wqy", "hei", "song", "uming"];
const DROID_FALLBACK: &str = "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf";
const DEJAVU: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
const FONT_ROOT: &str = "/usr/share/fonts";

/// A font file registered with plotters under `family`.
#[derive(Debug, Clone, PartialEq)]
pub struct FontFile {
    pub family: String,
    pub path: PathBuf,
}

/// The fonts text is drawn with, per character: CJK fallback fonts such as Droid Sans Fallback
/// have no Latin letters or digits, and DejaVu Sans has no Han, so each run of text goes to the
/// font that covers it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fonts {
    /// DejaVu Sans: Latin, Greek, Cyrillic, digits.
    pub latin: Option<FontFile>,
    /// The first CJK candidate found (a font named by `TRIAGE_REPORT_FONT` is assumed to be one).
    pub cjk: Option<FontFile>,
}

fn font_files(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if depth > 0 {
                font_files(&p, depth - 1, out);
            }
        } else if p.extension().and_then(|x| x.to_str()).is_some_and(|x| matches!(x.to_ascii_lowercase().as_str(), "ttf" | "ttc" | "otf")) {
            out.push(p);
        }
    }
}

/// plotters' ab_glyph backend keeps fonts in a process-wide table and wants `'static` bytes, so
/// each file is read and leaked once per process (a few MB) and remembered by path.
fn register(path: &Path) -> Option<FontFile> {
    static REGISTERED: OnceLock<Mutex<HashMap<PathBuf, Option<String>>>> = OnceLock::new();
    let mut map = REGISTERED.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    let family = match map.get(path) {
        Some(known) => known.clone(),
        None => {
            let family = format!("hotline-triage-font-{}", map.len());
            let registered = std::fs::read(path).ok().and_then(|bytes| {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                plotters::style::register_font(&family, FontStyle::Normal, bytes).ok().map(|_| family)
            });
            if registered.is_none() {
                tracing::warn!("{}: not a usable font, skipped", path.display());
            }
            map.insert(path.to_path_buf(), registered.clone());
            registered
        }
    };
    family.map(|family| FontFile { family, path: path.to_path_buf() })
}

/// CJK: `TRIAGE_REPORT_FONT`, then Droid Sans Fallback, then any font under /usr/share/fonts whose
/// file name suggests CJK coverage. Latin: DejaVu Sans.
pub fn find_fonts() -> Fonts {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os("TRIAGE_REPORT_FONT").filter(|p| !p.is_empty()) {
        candidates.push(PathBuf::from(p));
    }
    candidates.push(PathBuf::from(DROID_FALLBACK));
    let mut found = Vec::new();
    font_files(Path::new(FONT_ROOT), 6, &mut found);
    found.retain(|p| {
        let name = p.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
        CJK_NAME_HINTS.iter().any(|h| name.contains(h))
    });
    // Sorted so that two machines with the same fonts draw the same picture.
    found.sort();
    candidates.extend(found);
    let cjk = candidates.iter().filter(|p| p.is_file()).find_map(|p| register(p));
    let dejavu = Path::new(DEJAVU);
    let latin = if dejavu.is_file() { register(dejavu) } else { None };
    Fonts { latin, cjk }
}

/// Scripts DejaVu Sans covers: Latin, Greek, Cyrillic (and the ellipsis used to cut labels).
fn latin_char(c: char) -> bool {
    (c as u32) < 0x250 || (0x370..=0x52F).contains(&(c as u32)) || c == '…'
}

impl Fonts {
    pub fn any(&self) -> bool {
        self.latin.is_some() || self.cjk.is_some()
    }

    /// Whether every label can be drawn legibly.
    pub fn can_draw_all(&self, labels: &[String]) -> bool {
        self.cjk.is_some() || (self.latin.is_some() && labels.iter().all(|l| l.chars().all(latin_char)))
    }

    fn family_for(&self, c: char) -> Option<&str> {
        let (first, second) = if latin_char(c) { (&self.latin, &self.cjk) } else { (&self.cjk, &self.latin) };
        first.as_ref().or(second.as_ref()).map(|f| f.family.as_str())
    }

    /// `text` split into maximal runs drawn with one font.
    pub fn runs<'t>(&self, text: &'t str) -> Vec<(&str, &'t str)> {
        let mut out: Vec<(&str, &'t str)> = Vec::new();
        let mut start = 0;
        let mut current: Option<&str> = None;
        for (i, c) in text.char_indices() {
            let f = self.family_for(c);
            if f != current {
                if let Some(fam) = current {
                    out.push((fam, &text[start..i]));
                }
                start = i;
                current = f;
            }
        }
        if let Some(fam) = current {
            out.push((fam, &text[start..]));
        }
        out
    }

    pub fn width(&self, size: f64, text: &str) -> u32 {
        self.runs(text).iter().map(|(fam, run)| run_width(fam, size, run)).sum()
    }
}

fn run_width(family: &str, size: f64, text: &str) -> u32 {
    FontDesc::new(FontFamily::Name(family), size, FontStyle::Normal).box_size(text).map(|(w, _)| w).unwrap_or(0)
}

/// Where a piece of text sits relative to its anchor point.
#[derive(Clone, Copy)]
pub enum Anchor {
    Start,
    Centre,
    End,
}

/// Draws `text` run by run, each in the font that covers it, vertically centred on `pos`.
/// `upright == false` turns it 90° anticlockwise (reading bottom to top); `anchor` is then
/// along that direction, so `End` puts the end of the text at `pos`.
#[allow(clippy::too_many_arguments)]
pub fn draw_runs(
    root: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    fonts: &Fonts,
    text: &str,
    size: f64,
    colour: &RGBColor,
    anchor: Anchor,
    pos: (i32, i32),
    upright: bool,
) -> Result<(), String> {
    let runs = fonts.runs(text);
    let widths: Vec<i32> = runs.iter().map(|(fam, run)| run_width(fam, size, run) as i32).collect();
    let total: i32 = widths.iter().sum();
    let mut offset = match anchor {
        Anchor::Start => 0,
        Anchor::Centre => -total / 2,
        Anchor::End => -total,
    };
    for ((fam, run), w) in runs.iter().zip(widths) {
        let style = FontDesc::new(FontFamily::Name(fam), size, FontStyle::Normal).color(colour).pos(Pos::new(HPos::Left, VPos::Center));
        let (style, at) = if upright {
            (style, (pos.0 + offset, pos.1))
        } else {
            (style.transform(FontTransform::Rotate270), (pos.0, pos.1 - offset))
        };
        root.draw_text(run, &style, at).map_err(|e| e.to_string())?;
        offset += w;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_split_into_runs_per_font() {
        let file = |f: &str| Some(FontFile { family: f.into(), path: PathBuf::from(f) });
        let both = Fonts { latin: file("L"), cjk: file("C") };
        assert_eq!(both.runs("12 城乡a…"), vec![("L", "12 "), ("C", "城乡"), ("L", "a…")]);
        let cjk_only = Fonts { latin: None, cjk: file("C") };
        assert_eq!(cjk_only.runs("12 城乡"), vec![("C", "12 城乡")]);
        assert!(Fonts::default().runs("城乡").is_empty());
        let latin_only = Fonts { latin: file("L"), cjk: None };
        assert!(latin_only.can_draw_all(&["roads".into(), "Água".into()]));
        assert!(!latin_only.can_draw_all(&["roads".into(), "城乡建设".into()]));
        assert!(cjk_only.can_draw_all(&["城乡建设".into()]));
    }
}
