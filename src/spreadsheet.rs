//! Text for the cells of the CSV files callerdesk writes. A spreadsheet runs a cell that starts
//! with `=`, `+`, `-` or `@` (or a tab or carriage return, after leading spaces) as a formula,
//! so such a cell gets a leading `'`, which spreadsheets show as text. A cell that already
//! starts with `'` gets one too, so the rule can be undone exactly: drop one leading `'` from
//! any cell that has one ([`original`]). A missing value is an empty cell and the empty text a
//! lone `'` ([`optional_cell`]). docs/audit-log.md relies on both to check a CSV export.

use std::borrow::Cow;

/// `text` as a cell no spreadsheet will run.
pub fn cell(text: &str) -> Cow<'_, str> {
    let risky = text
        .trim_start_matches(' ')
        .starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky || text.starts_with('\'') {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// The text a cell was made from: [`cell`] undone.
pub fn original(cell: &str) -> &str {
    cell.strip_prefix('\'').unwrap_or(cell)
}

/// A value that may be missing: an empty cell for none, and `'` for the empty text, so the
/// two stay apart ([`original_optional`] undoes it).
pub fn optional_cell(value: Option<&str>) -> Cow<'_, str> {
    match value {
        None => Cow::Borrowed(""),
        Some("") => Cow::Borrowed("'"),
        Some(text) => cell(text),
    }
}

/// The value an [`optional_cell`] was made from.
pub fn original_optional(cell: &str) -> Option<&str> {
    (!cell.is_empty()).then(|| original(cell))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_become_text() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("  @SUM(A1)"), "'  @SUM(A1)");
        assert_eq!(cell("\tx"), "'\tx");
        assert_eq!(cell("+12025550143"), "'+12025550143");
        assert_eq!(cell("Front desk"), "Front desk");
        assert_eq!(cell(""), "");
        assert_eq!(cell("'quoted"), "''quoted");
        assert_eq!(optional_cell(None), "");
        assert_eq!(optional_cell(Some("")), "'");
        assert_eq!(original_optional(""), None);
        assert_eq!(original_optional("'"), Some(""));
    }

    proptest::proptest! {
        #[test]
        fn every_cell_is_safe_and_gives_back_its_text(text in "\\PC{0,12}|[ =+@'\\-\\t\\r]{1,4}[a-z]{0,3}") {
            let made = cell(&text);
            proptest::prop_assert_eq!(original(&made), text.as_str());
            let start = made.trim_start_matches(' ');
            proptest::prop_assert!(!start.starts_with(['=', '+', '-', '@', '\t', '\r']));
            let optional = optional_cell(Some(&text));
            proptest::prop_assert_eq!(original_optional(&optional), Some(text.as_str()));
        }
    }
}
