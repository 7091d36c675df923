//! Colour contrast (WCAG 2.2, 1.4.3): a tenant picks its brand colour; Accord picks the text
//! colour on it so the contrast ratio stays ≥ 4.5:1, or refuses the colour when neither black nor
//! white text reaches it.

/// A parsed `#RRGGBB` colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    pub fn parse(s: &str) -> Option<Self> {
        let h = s.strip_prefix('#')?;
        if h.len() != 6 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let n = u32::from_str_radix(h, 16).ok()?;
        Some(Rgb(
            ((n >> 16) & 0xff) as u8,
            ((n >> 8) & 0xff) as u8,
            (n & 0xff) as u8,
        ))
    }

    pub fn hex(self) -> String {
        format!("#{:02X}{:02X}{:02X}", self.0, self.1, self.2)
    }

    /// Relative luminance (WCAG 2.2 definition).
    pub fn luminance(self) -> f64 {
        let c = |v: u8| {
            let s = f64::from(v) / 255.0;
            if s <= 0.040_45 {
                s / 12.92
            } else {
                ((s + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * c(self.0) + 0.7152 * c(self.1) + 0.0722 * c(self.2)
    }
}

/// The WCAG contrast ratio of two colours, 1.0 to 21.0.
pub fn contrast(a: Rgb, b: Rgb) -> f64 {
    let (la, lb) = (a.luminance(), b.luminance());
    let (hi, lo) = if la > lb { (la, lb) } else { (lb, la) };
    (hi + 0.05) / (lo + 0.05)
}

pub const BLACK: Rgb = Rgb(0, 0, 0);
pub const WHITE: Rgb = Rgb(255, 255, 255);

/// Black or white, whichever contrasts more with `bg`; with its ratio.
pub fn text_on(bg: Rgb) -> (Rgb, f64) {
    let (w, b) = (contrast(bg, WHITE), contrast(bg, BLACK));
    if w >= b {
        (WHITE, w)
    } else {
        (BLACK, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_ratios() {
        assert!((contrast(BLACK, WHITE) - 21.0).abs() < 1e-9);
        assert!((contrast(Rgb::parse("#777777").unwrap(), WHITE) - 4.48).abs() < 0.01);
    }

    #[test]
    fn text_colour_keeps_aa_contrast() {
        for hex in [
            "#FFD700", "#1D4ED8", "#13B5EA", "#000000", "#FFFFFF", "#777777", "#FF0000",
        ] {
            let bg = Rgb::parse(hex).unwrap();
            let (_, ratio) = text_on(bg);
            assert!(ratio >= 4.5, "{hex}: {ratio}");
        }
        assert_eq!(text_on(Rgb::parse("#FFD700").unwrap()).0, BLACK);
        assert_eq!(text_on(Rgb::parse("#1D4ED8").unwrap()).0, WHITE);
    }

    #[test]
    fn parsing() {
        assert_eq!(Rgb::parse("#0a0B0c"), Some(Rgb(10, 11, 12)));
        for bad in ["", "#fff", "123456", "#12345g", "#1234567"] {
            assert_eq!(Rgb::parse(bad), None, "{bad}");
        }
    }
}
