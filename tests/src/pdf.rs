//! PDFs as their readers see them, through poppler (Debian's `poppler-utils`): each page rendered
//! to PNG by `pdftoppm` (kept as test artefacts under `<data>/test-artifacts/`), and the text a
//! reader would copy, by `pdftotext`.

use std::path::PathBuf;
use std::process::Command;

use anyhow::Context;

/// A PDF rendered by poppler.
#[derive(Debug)]
pub struct RenderedPdf {
    /// One PNG per page, in order.
    pub pages: Vec<PathBuf>,
    /// The text of every page, in reading order.
    pub text: String,
}

/// Renders `pdf` with poppler at 100 dpi into `<data>/test-artifacts/<name>-<page>.png` and reads
/// its text back.
pub fn render(pdf: &[u8], name: &str) -> anyhow::Result<RenderedPdf> {
    let dir = crate::stack::data_dir().join("test-artifacts");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let source = dir.join(format!("{name}.pdf"));
    std::fs::write(&source, pdf).with_context(|| format!("writing {}", source.display()))?;
    let prefix = dir.join(name);
    run(Command::new("pdftoppm").args(["-r", "100", "-png"]).arg(&source).arg(&prefix))?;
    let mut pages: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.file_name().and_then(|f| f.to_str()).is_some_and(|f| {
                f.strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix('-'))
                    .is_some_and(|rest| rest.ends_with(".png") && rest[..rest.len() - 4].parse::<u32>().is_ok())
            })
        })
        .collect();
    pages.sort();
    let text = run(Command::new("pdftotext").args(["-layout", "-enc", "UTF-8"]).arg(&source).arg("-"))?;
    Ok(RenderedPdf { pages, text })
}

fn run(command: &mut Command) -> anyhow::Result<String> {
    let output = command.output().with_context(|| format!("running {command:?} (apt-get install poppler-utils)"))?;
    // Poppler reports a broken font or content stream on stderr and still exits 0.
    anyhow::ensure!(
        output.status.success() && output.stderr.is_empty(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
