//! Names and labels come from other people's stacks. Before they reach a
//! terminal (or, later, a prompt) they are made inert: no control
//! characters (escape sequences, newlines) and a bounded length.

/// One printable line of at most `max` characters; anything cut is marked
/// with `…`, control characters become `?`.
pub fn line(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max * 4));
    for (n, ch) in s.chars().enumerate() {
        if n + 1 > max {
            out.pop();
            out.push('…');
            break;
        }
        out.push(if ch.is_control() || is_bidi(ch) { '?' } else { ch });
    }
    out
}

/// Bidirectional overrides can make text read differently than it is.
fn is_bidi(ch: char) -> bool {
    matches!(ch, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_length_are_neutralised() {
        assert_eq!(line("ok-name_1", 64), "ok-name_1");
        assert_eq!(line("evil\n# heading\x1b[31m", 64), "evil?# heading?[31m");
        assert_eq!(line("abcdef", 4), "abc…");
        assert_eq!(line("a\u{202E}b", 10), "a?b");
    }
}
