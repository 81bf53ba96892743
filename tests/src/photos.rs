//! Test photos: JPEGs with the size and texture of a phone camera's, made from a seed.

use crate::proxy::Rng;

/// A `width`×`height` JPEG at quality 92 (a phone's usual): smooth light and shade with
/// sensor-like noise, so it compresses the way a real photo does (about 4 MB at 4000×3000).
pub fn phone_photo(width: u32, height: u32, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let (cx, cy) = (
        rng.range(0, u64::from(width)) as f32,
        rng.range(0, u64::from(height)) as f32,
    );
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32, y as f32);
        let light = 1.0 - ((fx - cx).hypot(fy - cy) / (width.max(height) as f32)).min(1.0);
        let stripes = ((fx / 37.0).sin() * (fy / 53.0).cos() * 40.0) as i32;
        let noise = (rng.next_u64() % 29) as i32 - 14;
        let base = (light * 170.0) as i32 + 40 + stripes;
        let channel = |shift: i32| (base + shift + noise).clamp(0, 255) as u8;
        image::Rgb([channel(12), channel(0), channel(-18)])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 92)
        .encode_image(&image)
        .expect("encoding a JPEG in memory");
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_phone_photo_is_about_4_mb() {
        let photo = super::phone_photo(4000, 3000, 1);
        eprintln!("{} bytes", photo.len());
        assert!(
            (3_000_000..6_000_000).contains(&photo.len()),
            "{} bytes",
            photo.len()
        );
    }
}
