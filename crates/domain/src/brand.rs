//! The tenant's logo: PNG, JPEG or WebP, recognised by its magic bytes (never by the
//! `Content-Type` the uploader claims), at most [`LOGO_MAX_BYTES`]. SVG is refused: it is a
//! document that can carry script and external references, and raster formats cover logos.
//! Accord serves the stored bytes with the detected type and `nosniff`.

use sha2::{Digest, Sha256};

/// The largest logo accepted, in bytes.
pub const LOGO_MAX_BYTES: usize = 256 * 1024;

/// A logo format Accord serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoFormat {
    Png,
    Jpeg,
    Webp,
}

impl LogoFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            LogoFormat::Png => "image/png",
            LogoFormat::Jpeg => "image/jpeg",
            LogoFormat::Webp => "image/webp",
        }
    }

    pub fn from_content_type(s: &str) -> Option<Self> {
        [LogoFormat::Png, LogoFormat::Jpeg, LogoFormat::Webp]
            .into_iter()
            .find(|f| f.content_type() == s)
    }
}

/// Why an upload is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogoError {
    #[error("the logo is empty")]
    Empty,
    #[error("the logo is larger than {LOGO_MAX_BYTES} bytes")]
    TooLarge,
    #[error("SVG logos are not accepted (they can carry script); upload a PNG, JPEG or WebP")]
    Svg,
    #[error("not a PNG, JPEG or WebP image")]
    Unsupported,
}

/// A stored logo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logo {
    pub tenant_id: crate::ids::TenantId,
    pub format: LogoFormat,
    pub bytes: Vec<u8>,
    /// Hex SHA-256 of the bytes: the cache-busting part of its URL.
    pub sha256: String,
    pub updated_at: time::OffsetDateTime,
}

/// Recognises the image format from its first bytes.
pub fn sniff(bytes: &[u8]) -> Result<LogoFormat, LogoError> {
    if bytes.is_empty() {
        return Err(LogoError::Empty);
    }
    if bytes.len() > LOGO_MAX_BYTES {
        return Err(LogoError::TooLarge);
    }
    // PNG signature (RFC 2083 §3.1) followed by the IHDR chunk.
    if bytes.len() > 24 && bytes.starts_with(b"\x89PNG\r\n\x1a\n") && &bytes[12..16] == b"IHDR" {
        return Ok(LogoFormat::Png);
    }
    // JPEG: SOI marker then another marker.
    if bytes.len() > 4 && bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(LogoFormat::Jpeg);
    }
    // WebP: a RIFF container of type WEBP with a VP8/VP8L/VP8X chunk.
    if bytes.len() > 16
        && bytes.starts_with(b"RIFF")
        && &bytes[8..12] == b"WEBP"
        && &bytes[12..15] == b"VP8"
    {
        return Ok(LogoFormat::Webp);
    }
    if looks_like_svg(bytes) {
        return Err(LogoError::Svg);
    }
    Err(LogoError::Unsupported)
}

fn looks_like_svg(bytes: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(1024)]).to_ascii_lowercase();
    head.contains("<svg") || head.trim_start().starts_with("<?xml")
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1×1 PNG.
    pub const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\x0f\0\0\x01\x01\0\x05\x18\xd8N\0\0\0\0IEND\xaeB`\x82";

    #[test]
    fn formats_are_recognised_by_their_bytes() {
        assert_eq!(sniff(PNG), Ok(LogoFormat::Png));
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0\0\x10JFIF\0"), Ok(LogoFormat::Jpeg));
        assert_eq!(
            sniff(b"RIFF\x24\0\0\0WEBPVP8 \x18\0\0\0"),
            Ok(LogoFormat::Webp)
        );
    }

    #[test]
    fn svg_and_others_are_refused() {
        assert_eq!(
            sniff(b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>"),
            Err(LogoError::Svg)
        );
        assert_eq!(
            sniff(b"  <?xml version=\"1.0\"?><!DOCTYPE svg><svg/>"),
            Err(LogoError::Svg)
        );
        assert_eq!(
            sniff(b"<html><script>alert(1)</script>"),
            Err(LogoError::Unsupported)
        );
        assert_eq!(sniff(b"GIF89a\x01\0\x01\0"), Err(LogoError::Unsupported));
        assert_eq!(sniff(b""), Err(LogoError::Empty));
        // A PNG signature alone, without its header chunk, is not a PNG.
        assert_eq!(sniff(&PNG[..8]), Err(LogoError::Unsupported));
        let mut big = PNG.to_vec();
        big.resize(LOGO_MAX_BYTES + 1, 0);
        assert_eq!(sniff(&big), Err(LogoError::TooLarge));
    }
}
