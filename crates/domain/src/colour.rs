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

/// The WCAG AA minimum for normal text.
pub const AA_NORMAL: f64 = 4.5;

/// The page backgrounds of Accord's light and dark themes (`assets/accord.css`).
pub const LIGHT_BG: Rgb = Rgb(0xff, 0xff, 0xff);
pub const DARK_BG: Rgb = Rgb(0x12, 0x16, 0x1a);
/// Accord's own link colours on those backgrounds.
pub const LIGHT_LINK: Rgb = Rgb(0x1d, 0x4e, 0xd8);
pub const DARK_LINK: Rgb = Rgb(0x93, 0xb4, 0xff);

/// The colours a brand colour turns into on the flow's pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Palette {
    /// Button background: the brand colour itself.
    pub primary: Rgb,
    /// Text on it: black or white, whichever contrasts more (always ≥ 4.5:1).
    pub on_primary: Rgb,
    /// Link and outline-button text on the light page: the brand colour when it reaches 4.5:1
    /// on white, else Accord's own link colour.
    pub link_light: Rgb,
    /// The same on the dark page.
    pub link_dark: Rgb,
}

impl Palette {
    pub fn for_brand(primary: Rgb) -> Self {
        let on = |bg: Rgb, fallback: Rgb| {
            if contrast(primary, bg) >= AA_NORMAL {
                primary
            } else {
                fallback
            }
        };
        Palette {
            primary,
            on_primary: text_on(primary).0,
            link_light: on(LIGHT_BG, LIGHT_LINK),
            link_dark: on(DARK_BG, DARK_LINK),
        }
    }
}

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

    /// Whatever the brand colour, black or white text on it reaches AA: the worst case over the
    /// whole sRGB cube (sampled every 3 levels, plus the exact edges) is about 4.58:1.
    #[test]
    fn black_or_white_always_reaches_aa() {
        let mut worst = f64::MAX;
        let levels: Vec<u8> = (0..=255).step_by(3).chain([255]).collect();
        for &r in &levels {
            for &g in &levels {
                for &b in &levels {
                    worst = worst.min(text_on(Rgb(r, g, b)).1);
                }
            }
        }
        assert!(worst >= AA_NORMAL, "worst {worst}");
        assert!(
            worst < 4.7,
            "the bound is tight, so the test means something: {worst}"
        );
    }

    #[test]
    fn palette_keeps_every_pair_at_aa() {
        for hex in [
            "#FFD700", "#1D4ED8", "#13B5EA", "#777777", "#00FF00", "#0B0B0B", "#FFFFFF",
        ] {
            let p = Palette::for_brand(Rgb::parse(hex).unwrap());
            assert!(contrast(p.primary, p.on_primary) >= AA_NORMAL, "{hex}");
            assert!(contrast(p.link_light, LIGHT_BG) >= AA_NORMAL, "{hex}");
            assert!(contrast(p.link_dark, DARK_BG) >= AA_NORMAL, "{hex}");
        }
        // A yellow brand: black text on its buttons, Accord's blue for links on white.
        let y = Palette::for_brand(Rgb::parse("#FFD700").unwrap());
        assert_eq!(
            (y.on_primary, y.link_light, y.link_dark),
            (BLACK, LIGHT_LINK, y.primary)
        );
        // A dark blue: white text, its own colour for links on white, Accord's on dark.
        let b = Palette::for_brand(Rgb::parse("#1D4ED8").unwrap());
        assert_eq!(
            (b.on_primary, b.link_light, b.link_dark),
            (WHITE, b.primary, DARK_LINK)
        );
    }

    #[test]
    fn parsing() {
        assert_eq!(Rgb::parse("#0a0B0c"), Some(Rgb(10, 11, 12)));
        for bad in ["", "#fff", "123456", "#12345g", "#1234567"] {
            assert_eq!(Rgb::parse(bad), None, "{bad}");
        }
    }
}
