//! Turns a file the user picked into evidence ready to store: its kind from its bytes (never
//! from the name or the type the browser claims), photos downscaled and re-encoded as JPEG,
//! a safe name, and its SHA-256. Refuses what the server would refuse, before anything is
//! stored.

use js_sys::{Array, Uint8Array};
use rectify_shared::evidence::{self, FileKind, FileSettings};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    Blob, BlobPropertyBag, CanvasRenderingContext2d, File, HtmlCanvasElement, ImageBitmap,
    ImageBitmapOptions, ImageOrientation,
};

/// A file ready to store: these bytes are what the server will get.
pub struct Prepared {
    pub sha256: String,
    pub name: String,
    pub mime: String,
    pub size: u64,
    pub blob: Blob,
}

/// Why a file is not taken. Each carries the file's name for the message.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// Not a kind the server accepts (judged from the bytes).
    Kind(String),
    /// Larger than the limit, even after downscaling.
    TooLarge { name: String, max_bytes: u64 },
    /// The browser could not read it (removed from the disk, permission).
    Unreadable(String),
}

/// Enough bytes to tell every accepted kind apart.
const SNIFF_BYTES: i32 = 16;

pub async fn prepare(file: &File, settings: &FileSettings) -> Result<Prepared, Refusal> {
    let name = evidence::safe_file_name(&file.name());
    let unreadable = || Refusal::Unreadable(name.clone());
    let too_large = || Refusal::TooLarge {
        name: name.clone(),
        max_bytes: settings.max_file_bytes,
    };
    let head = file
        .slice_with_i32_and_i32(0, SNIFF_BYTES)
        .map_err(|_| unreadable())?;
    let head = read_bytes(&head).await.ok_or_else(unreadable)?;
    let kind = FileKind::sniff(&head).ok_or_else(|| Refusal::Kind(name.clone()))?;
    let original_size = file.size() as u64;
    // A large photo may shrink below the limit; anything else is refused before it is read.
    if !kind.is_drawable_image() && original_size > settings.max_file_bytes {
        return Err(too_large());
    }
    let (kind, name, blob) = match downscaled(file, kind, settings).await {
        Some(jpeg) => (FileKind::Jpeg, with_extension(&name, "jpg"), jpeg),
        None => (kind, name.clone(), file.clone().into()),
    };
    let bytes = read_bytes(&blob).await.ok_or_else(unreadable)?;
    if bytes.len() as u64 > settings.max_file_bytes {
        return Err(too_large());
    }
    let mime = kind.mime(&name).to_owned();
    Ok(Prepared {
        sha256: evidence::sha256_hex(&bytes),
        size: bytes.len() as u64,
        blob: blob_of(&bytes, &mime).ok_or_else(unreadable)?,
        name,
        mime,
    })
}

/// The image re-encoded as a JPEG whose longest side is at most `image_max_side`, in the
/// orientation its EXIF data asks for; `None` to keep the original: not an image the browser
/// draws, or already small enough and not smaller re-encoded.
async fn downscaled(file: &File, kind: FileKind, settings: &FileSettings) -> Option<Blob> {
    if !kind.is_drawable_image() {
        return None;
    }
    let options = ImageBitmapOptions::new();
    options.set_image_orientation(ImageOrientation::FromImage);
    let promise = gloo::utils::window()
        .create_image_bitmap_with_blob_and_image_bitmap_options(file, &options)
        .ok()?;
    let bitmap: ImageBitmap = JsFuture::from(promise).await.ok()?.dyn_into().ok()?;
    let (width, height) = (bitmap.width(), bitmap.height());
    let (to_width, to_height) = evidence::scaled_size(width, height, settings.image_max_side);
    let jpeg = draw_as_jpeg(&bitmap, to_width, to_height, settings.image_quality).await;
    bitmap.close();
    let jpeg = jpeg?;
    let within_max_side = (to_width, to_height) == (width, height);
    (!within_max_side || jpeg.size() <= file.size()).then_some(jpeg)
}

async fn draw_as_jpeg(bitmap: &ImageBitmap, width: u32, height: u32, quality: f64) -> Option<Blob> {
    let canvas: HtmlCanvasElement = gloo::utils::document()
        .create_element("canvas")
        .ok()?
        .dyn_into()
        .ok()?;
    canvas.set_width(width);
    canvas.set_height(height);
    let context: CanvasRenderingContext2d = canvas.get_context("2d").ok()??.dyn_into().ok()?;
    let _ = js_sys::Reflect::set(&context, &"imageSmoothingQuality".into(), &"high".into());
    // JPEG has no transparency: a transparent PNG would otherwise turn black.
    context.set_fill_style_str("#fff");
    context.fill_rect(0.0, 0.0, f64::from(width), f64::from(height));
    context
        .draw_image_with_image_bitmap_and_dw_and_dh(
            bitmap,
            0.0,
            0.0,
            f64::from(width),
            f64::from(height),
        )
        .ok()?;
    let encoded = js_sys::Promise::new(&mut |resolve, reject| {
        let quality = JsValue::from(quality);
        if let Err(err) =
            canvas.to_blob_with_type_and_encoder_options(&resolve, "image/jpeg", &quality)
        {
            let _ = reject.call1(&JsValue::NULL, &err);
        }
    });
    // `toBlob` hands over `null` when it cannot encode.
    JsFuture::from(encoded).await.ok()?.dyn_into().ok()
}

/// `photo.png` → `photo.jpg`; a name without an extension gets one.
fn with_extension(name: &str, extension: &str) -> String {
    let stem = name.rsplit_once('.').map_or(name, |(stem, _)| stem);
    evidence::safe_file_name(&format!("{stem}.{extension}"))
}

pub async fn read_bytes(blob: &Blob) -> Option<Vec<u8>> {
    let buffer = JsFuture::from(blob.array_buffer()).await.ok()?;
    Some(Uint8Array::new(&buffer).to_vec())
}

/// A blob holding exactly `bytes` (the ones hashed), typed `mime`.
fn blob_of(bytes: &[u8], mime: &str) -> Option<Blob> {
    let options = BlobPropertyBag::new();
    options.set_type(mime);
    let parts = Array::of1(&Uint8Array::from(bytes));
    Blob::new_with_u8_array_sequence_and_options(&parts, &options).ok()
}
