//! Format detection: which parser a jobspec file's text goes to.
//!
//! Kept apart from the parsers so a new format (Metronome's job JSON) can be
//! routed to its own parser without touching the HCL or Nomad JSON code.

/// The formats a jobspec file can be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// HashiCorp Configuration Language, as Nomad jobspecs are written.
    Hcl,
    /// Nomad API JSON: `{"Job": {...}}` or a bare Job object with PascalCase keys.
    NomadJson,
    /// Metronome job JSON: an object with lowercase `id` and `run` keys.
    MetronomeJson,
}

impl Format {
    /// A short human name for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Hcl => "HCL",
            Format::NomadJson => "Nomad JSON",
            Format::MetronomeJson => "Metronome JSON",
        }
    }
}

/// Guesses the format from the text alone (file names are not trusted).
///
/// Text starting with `{` or `[` is JSON (an HCL body starts with an
/// identifier or a comment); a JSON object with both `id` and `run` keys is
/// Metronome's shape; any other JSON, including malformed JSON, goes to the
/// Nomad JSON parser, which reports the syntax error with its position.
pub fn detect_format(source: &str) -> Format {
    let text = source.trim_start_matches('\u{feff}').trim_start();
    if !(text.starts_with('{') || text.starts_with('[')) {
        return Format::Hcl;
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) if map.contains_key("id") && map.contains_key("run") => {
            Format::MetronomeJson
        }
        _ => Format::NomadJson,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(source: &str, expected: Format) {
        assert_eq!(detect_format(source), expected, "{source}");
    }

    #[test]
    fn detects_each_format() {
        check("job \"x\" {}", Format::Hcl);
        check("# comment\njob \"x\" {}", Format::Hcl);
        check("", Format::Hcl);
        check("  {\"Job\": {\"ID\": \"x\"}}", Format::NomadJson);
        check("{\"ID\": \"x\"}", Format::NomadJson);
        check("{\"ID\": ", Format::NomadJson);
        check("[1]", Format::NomadJson);
        check("{\"id\": \"x\", \"run\": {\"cmd\": \"true\"}}", Format::MetronomeJson);
        check("\u{feff}{\"id\": \"x\", \"run\": {}}", Format::MetronomeJson);
        check("{\"id\": \"x\"}", Format::NomadJson);
    }
}
