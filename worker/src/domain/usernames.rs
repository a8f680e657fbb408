//! Usernames people cannot be fooled by (SPEC §20): NFKC-normalised, no
//! control, invisible or bidi-control characters, and unique by a *key* that
//! folds case and confusable look-alikes (`entity::user::username_key`, kept
//! on every save), so `аdmin` (Cyrillic а) and `ROOT` cannot stand beside
//! `admin` and `root`.

use unicode_normalization::UnicodeNormalization;

/// The longest username, in characters.
pub const MAX_CHARS: usize = 150;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    #[error("must not be empty")]
    Empty,
    #[error("too long (usernames at most {MAX_CHARS} characters, nicknames {MAX_NICKNAME_CHARS})")]
    TooLong,
    #[error("must not contain invisible, control or text-direction characters (U+{0:04X})")]
    Hidden(u32),
}

/// Characters that render as nothing or reorder text: format characters,
/// joiners, bidi controls, variation selectors, fillers, tags.
fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c as u32,
            0x00AD
                | 0x034F
                | 0x061C
                | 0x115F
                | 0x1160
                | 0x17B4
                | 0x17B5
                | 0x180B..=0x180F
                | 0x200B..=0x200F
                | 0x2028..=0x202E
                | 0x2060..=0x206F
                | 0x3164
                | 0xFE00..=0xFE0F
                | 0xFEFF
                | 0xFFA0
                | 0xFFF9..=0xFFFB
                | 0x1D173..=0x1D17A
                | 0xE0000..=0xE007F
                | 0xE0100..=0xE01EF
        )
}

/// A name from elsewhere (Discord, an import) made acceptable: hidden
/// characters dropped, NFKC, trimmed, cut to length; `None` if nothing is left.
pub fn sanitize(input: &str) -> Option<String> {
    let kept: String = input.nfkc().filter(|c| !is_hidden(*c)).collect();
    let name: String = kept.trim().chars().take(MAX_CHARS).collect();
    let name = name.trim().to_owned();
    (!name.is_empty()).then_some(name)
}

/// The longest nickname (and Discord or guild display name), in characters.
pub const MAX_NICKNAME_CHARS: usize = 100;

/// A nickname as stored: trimmed, no control, invisible or text-direction
/// character (the username rule, without folding), at most
/// [`MAX_NICKNAME_CHARS`]; blank is none.
pub fn nickname(input: &str) -> Result<Option<String>, UsernameError> {
    if let Some(hidden) = input.chars().find(|c| is_hidden(*c)) {
        return Err(UsernameError::Hidden(hidden as u32));
    }
    let name = input.trim();
    match name.chars().count() {
        0 => Ok(None),
        n if n > MAX_NICKNAME_CHARS => Err(UsernameError::TooLong),
        _ => Ok(Some(name.to_owned())),
    }
}

/// A nickname from elsewhere (an import) made acceptable: hidden characters
/// dropped, trimmed, cut to length; `None` if nothing is left.
pub fn sanitize_nickname(input: &str) -> Option<String> {
    let kept: String = input.chars().filter(|c| !is_hidden(*c)).collect();
    let name: String = kept.trim().chars().take(MAX_NICKNAME_CHARS).collect();
    let name = name.trim().to_owned();
    (!name.is_empty()).then_some(name)
}

/// The username as stored: NFKC, trimmed, checked.
pub fn normalize(input: &str) -> Result<String, UsernameError> {
    let name: String = input.nfkc().collect();
    if let Some(hidden) = name.chars().find(|c| is_hidden(*c)) {
        return Err(UsernameError::Hidden(hidden as u32));
    }
    let name = name.trim();
    match name.chars().count() {
        0 => Err(UsernameError::Empty),
        n if n > MAX_CHARS => Err(UsernameError::TooLong),
        _ => Ok(name.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_characters_are_refused() {
        for bad in ["ad\u{200B}min", "\u{202E}nimda", "adm\u{2066}in", "a\u{00AD}b", "x\u{FEFF}", "tab\tname"] {
            assert!(matches!(normalize(bad), Err(UsernameError::Hidden(_))), "{bad:?}");
        }
        assert_eq!(normalize("  Ana the Great "), Ok("Ana the Great".to_owned()));
        assert_eq!(normalize("ﬁnn"), Ok("finn".to_owned()), "NFKC folds the ligature");
        assert_eq!(normalize("   "), Err(UsernameError::Empty));
        assert_eq!(normalize(&"x".repeat(151)), Err(UsernameError::TooLong));
        assert_eq!(sanitize("  an\u{200B}a\u{202E} "), Some("ana".to_owned()));
        assert_eq!(sanitize("\u{200B}"), None);
    }

    #[test]
    fn nicknames_refuse_what_usernames_refuse_and_imports_are_cleaned() {
        for bad in ["\u{202E}kcab", "zero\u{200B}width", "\u{3164}", "\u{1160}x", "bell\u{7}"] {
            assert!(matches!(nickname(bad), Err(UsernameError::Hidden(_))), "{bad:?}");
        }
        assert_eq!(nickname("  Kuro  "), Ok(Some("Kuro".into())));
        assert_eq!(nickname("   "), Ok(None));
        assert_eq!(nickname(&"n".repeat(101)), Err(UsernameError::TooLong));
        assert_eq!(sanitize_nickname("\u{202E}Kuro\u{200B}"), Some("Kuro".into()));
        assert_eq!(sanitize_nickname(&"x".repeat(5_000_000)).map(|n| n.chars().count()), Some(100));
        assert_eq!(sanitize_nickname("\u{3164}\u{200B}"), None);
    }
}
