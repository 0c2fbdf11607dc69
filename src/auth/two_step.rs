//! The second step of a password sign-in: a code from an authenticator app (TOTP, RFC 6238,
//! with the parameters every app expects: SHA-1, 6 digits, 30-second steps) or one of ten
//! single-use recovery codes. Pure functions; storing and claiming are `accounts` and
//! `db::two_step`.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

/// Seconds per code.
pub const STEP_SECS: i64 = 30;
/// How many recovery codes are made at once.
pub const RECOVERY_CODES: usize = 10;
/// The name an authenticator app shows above the code.
const ISSUER: &str = "callerdesk";

/// A new authenticator seed: 160 bits, as RFC 4226 recommends.
pub fn new_seed() -> Vec<u8> {
    rand::random::<[u8; 20]>().to_vec()
}

fn totp(seed: &[u8], account: &str) -> Option<TOTP> {
    // The TOTP's own skew is unused: `matching_step` tries the neighbouring steps itself so
    // that it knows which one matched.
    TOTP::new(
        Algorithm::SHA1,
        6,
        0,
        STEP_SECS as u64,
        seed.to_vec(),
        Some(ISSUER.to_owned()),
        account.replace(':', " "),
    )
    .ok()
}

/// The seed as the text people type into an app instead of scanning (base32, in groups of 4).
pub fn seed_text(seed: &[u8]) -> String {
    let plain = base32::encode(base32::Alphabet::Rfc4648 { padding: false }, seed);
    plain
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `otpauth://` address an app reads from the QR code.
pub fn setup_address(seed: &[u8], account: &str) -> Option<String> {
    totp(seed, account).map(|t| t.get_url())
}

/// The QR code of `address` as an SVG image, drawn here (no outside service sees the seed).
pub fn qr_svg(address: &str) -> Option<String> {
    let code = qrcode::QrCode::with_error_correction_level(address, qrcode::EcLevel::M).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .dark_color(qrcode::render::svg::Color("#000000"))
            .light_color(qrcode::render::svg::Color("#ffffff"))
            .build(),
    )
}

/// The 30-second step `unix_time` falls in.
pub fn step_at(unix_time: i64) -> i64 {
    unix_time.div_euclid(STEP_SECS)
}

/// The code for `step` (tests, and what an app would show).
pub fn code_at_step(seed: &[u8], step: i64) -> Option<String> {
    let time = u64::try_from(step.checked_mul(STEP_SECS)?).ok()?;
    totp(seed, "").map(|t| t.generate(time))
}

/// The step whose code `typed` is, among the one before, the current one and the one after
/// (clocks drift; a code typed as the step turns still counts), compared in constant time.
/// Spaces in what was typed are ignored.
pub fn matching_step(seed: &[u8], typed: &str, unix_time: i64) -> Option<i64> {
    let typed: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    if typed.len() != 6 || !typed.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_at(unix_time);
    let mut found = None;
    for step in [now - 1, now, now + 1] {
        if let Some(code) = code_at_step(seed, step)
            && bool::from(code.as_bytes().ct_eq(typed.as_bytes()))
            && found.is_none()
        {
            found = Some(step);
        }
    }
    found
}

/// Whether `typed` looks like a recovery code rather than an app's code.
pub fn is_recovery_code(typed: &str) -> bool {
    normalise_recovery(typed).len() == 16
}

/// Ten new recovery codes, as shown to the person: 16 letters and digits (80 bits) in four
/// groups, from an alphabet without look-alikes.
pub fn new_recovery_codes() -> Vec<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    (0..RECOVERY_CODES)
        .map(|_| {
            let chars: Vec<char> = (0..16)
                .map(|_| {
                    let i = rand::random_range(0..ALPHABET.len());
                    char::from(ALPHABET[i])
                })
                .collect();
            chars
                .chunks(4)
                .map(|c| c.iter().collect::<String>())
                .collect::<Vec<_>>()
                .join("-")
        })
        .collect()
}

fn normalise_recovery(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// What is stored of a recovery code: its SHA-256 (a code has 80 random bits, so a fast hash
/// is enough), in hex, of the code without dashes or spaces and in lower case.
pub fn recovery_hash(typed: &str) -> String {
    hex::encode(Sha256::digest(normalise_recovery(typed).as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238's SHA-1 seed ("12345678901234567890") and its test vectors, last 6 digits.
    #[test]
    fn codes_match_rfc_6238() {
        let seed = b"12345678901234567890";
        for (time, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(code_at_step(seed, step_at(time)).unwrap(), code);
            assert_eq!(matching_step(seed, code, time), Some(step_at(time)));
        }
    }

    #[test]
    fn a_code_counts_one_step_either_side_and_no_further() {
        let seed = new_seed();
        let now = 1_800_000_015;
        let step = step_at(now);
        for (offset, expected) in [(-2, None), (-1, Some(-1)), (0, Some(0)), (1, Some(1))] {
            let code = code_at_step(&seed, step + offset).unwrap();
            let found = matching_step(&seed, &code, now).map(|s| s - step);
            // Two steps' codes can coincide (1 in a million); skip that draw.
            if expected.is_none() && found.is_some() {
                continue;
            }
            assert_eq!(found, expected, "offset {offset}");
        }
        let code = code_at_step(&seed, step).unwrap();
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert_eq!(matching_step(&seed, &spaced, now), Some(step));
        assert_eq!(matching_step(&seed, "12345", now), None);
        assert_eq!(matching_step(&seed, "abcdef", now), None);
    }

    #[test]
    fn recovery_codes_are_distinct_and_hash_the_same_however_typed() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), RECOVERY_CODES);
        let code = &codes[0];
        assert!(is_recovery_code(code));
        assert!(!is_recovery_code("123456"));
        assert_eq!(
            recovery_hash(code),
            recovery_hash(&code.replace('-', " ").to_uppercase())
        );
        assert_ne!(recovery_hash(code), recovery_hash(&codes[1]));
    }

    #[test]
    fn the_setup_address_and_qr_code_carry_the_seed() {
        let seed = new_seed();
        let address = setup_address(&seed, "ada").unwrap();
        assert!(address.starts_with("otpauth://totp/callerdesk:ada?"));
        let plain = base32::encode(base32::Alphabet::Rfc4648 { padding: false }, &seed);
        assert!(address.contains(&plain));
        assert_eq!(seed_text(&seed).replace(' ', ""), plain);
        let svg = qr_svg(&address).unwrap();
        assert!(svg.contains("<svg"));
    }
}
