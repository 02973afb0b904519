//! Merges as Hugging Face writes them: "left right" pairs of token strings, in priority order.

/// One merge written as "left right" (exactly one space), as `merges.txt` lines and the
/// merges of `tokenizer.json` do.
pub fn parse_merge(line: &str) -> Option<(String, String)> {
    let mut parts = line.split(' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(a), Some(b), None) => Some((a.to_string(), b.to_string())),
        _ => None,
    }
}

/// Merges in priority order, as pairs of token strings.
pub type MergeList = Vec<(String, String)>;

/// GPT-2's `merges.txt`: `#version` lines are skipped, every other line is "left right".
/// Returns the merges and the 1-based line number of each; errors name the line.
pub fn parse_merges_txt(text: &str) -> Result<(MergeList, Vec<usize>), String> {
    let mut merges = Vec::new();
    let mut lines = Vec::new();
    let body = text.strip_suffix('\n').unwrap_or(text);
    if body.is_empty() && text.len() <= 1 {
        return Ok((merges, lines));
    }
    for (i, line) in body.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with("#version") {
            continue;
        }
        match parse_merge(line) {
            Some(pair) => merges.push(pair),
            None => {
                let shown: String = line.chars().take(80).collect();
                return Err(format!(
                    "line {}: a merge must be two tokens separated by one space, got {shown:?}",
                    i + 1
                ));
            }
        }
        lines.push(i + 1);
    }
    Ok((merges, lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_txt_lines_and_errors() {
        let (m, lines) = parse_merges_txt("#version: 0.2\na b\r\nab c\n").unwrap();
        assert_eq!(m, vec![("a".into(), "b".into()), ("ab".into(), "c".into())]);
        assert_eq!(lines, vec![2, 3]);
        assert_eq!(parse_merges_txt("").unwrap().0, vec![]);
        let err = parse_merges_txt("#version\na b\nabc\n").unwrap_err();
        assert!(
            err.starts_with("line 3: a merge must be two tokens"),
            "{err}"
        );
        assert!(parse_merges_txt("a b c").is_err());
    }
}
