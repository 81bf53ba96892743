//! Evidence files over HTTP: the resumable upload protocol, serving files to those who may
//! read them, thumbnails and quotas; the file service under it (limits, staging, collection)
//! is [`files`]. The protocol is described in
//! `docs/evidence.md`; its bodies are in [`rectify_shared::evidence`].
//!
//! An upload is staged in the database as parts ([`crate::storage::Storage::append_upload_part`]),
//! not on one server's disk, so its next `PATCH` may reach any server process sharing the
//! database; the parts' length is how much the server has. A `PATCH` stores the bytes in
//! parts of up to [`PART_BYTES`] as they arrive, and what it holds when the connection drops,
//! so a dropped connection keeps what got through. Only one request writes an upload at a
//! time: a new request takes over from an older one (whose connection may be dead without the
//! server knowing yet), and the older one stops at its next part. The take-over is a
//! generation in the upload's row, so it holds across processes.

pub mod files;

use crate::auth::CurrentUser;
use crate::blobs::Variant;
use crate::error::{ApiError, Said};
use crate::json::LaterJson;
use crate::state::AppState;
use crate::storage::{BlobRecord, PartAppended, UploadRecord};
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, HeaderMap,
};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use rectify_shared::evidence::{
    self, FileKind, FileSettings, UPLOAD_OFFSET, UploadRequest, UploadStatus, is_sha256_hex,
    safe_file_name,
};
use rectify_shared::model::check_reference;
use rectify_shared::policy::{Actor, Role};
use std::sync::Arc;

/// The most bytes a `PATCH` holds in memory before storing them as a part: few rows per
/// upload, and little lost (to be re-sent) when a server dies mid-request.
pub const PART_BYTES: usize = 256 * 1024;
/// Longest side of a thumbnail, in pixels.
const THUMBNAIL_SIDE: u32 = 320;
/// Images larger than this (either side) are not decoded for a thumbnail.
const MAX_DECODE_SIDE: u32 = 12_000;

fn now_ms() -> i64 {
    crate::clock::now_ms()
}

fn checked_sha(sha256: &str) -> Result<(), ApiError> {
    if is_sha256_hex(sha256) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(Said::new(
            format!("“{sha256}”不是文件编号：应为文件的 SHA-256，64 位小写十六进制"),
            format!(
                "'{sha256}' is not a file id: expected the SHA-256 of the file, 64 lowercase hex digits"
            ),
        )))
    }
}

fn complete(blob: &BlobRecord) -> Json<UploadStatus> {
    Json(UploadStatus {
        sha256: blob.sha256.clone(),
        size: blob.size,
        received: blob.size,
        complete: true,
    })
}

/// `GET /api/files`: the limits, and the caller's quota.
pub async fn settings(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<FileSettings>, ApiError> {
    let s = &state.files.settings;
    Ok(Json(FileSettings {
        max_file_bytes: s.max_file_bytes,
        image_max_side: s.image_max_side,
        image_quality: s.image_quality,
        quota_bytes: s.quota_bytes,
        used_bytes: state.storage.quota_used(&user.username).await?,
    }))
}

/// `POST /api/uploads`: start or resume an upload. A file the server has is complete at once
/// for those who may read it; anyone else uploads it like a new file (the server keeps the
/// one copy it has): the answer never tells a caller about a file it may not read.
pub async fn start_upload(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    body: LaterJson<UploadRequest>,
) -> Result<Json<UploadStatus>, ApiError> {
    if user.role == Role::Viewer {
        return Err(ApiError::Forbidden(Said::new(
            "查看账号不能添加佐证材料",
            "a viewer account cannot add evidence",
        )));
    }
    let request = body.read().await?;
    checked_sha(&request.sha256)?;
    if let Some(blob) = state.storage.blob(&request.sha256).await?
        && may_read(&state, &user, &blob).await?
    {
        return Ok(complete(&blob));
    }
    let limits = &state.files.settings;
    if request.size == 0 {
        return Err(ApiError::BadRequest(Said::new(
            "空文件不能作佐证材料",
            "an empty file is no evidence",
        )));
    }
    if request.size > limits.max_file_bytes {
        return Err(ApiError::TooLarge(Said::new(
            format!(
                "文件有 {} 字节，最大只收 {} 字节",
                request.size, limits.max_file_bytes
            ),
            format!(
                "the file is {} bytes; the largest accepted is {} bytes",
                request.size, limits.max_file_bytes
            ),
        )));
    }
    let existing = state
        .storage
        .upload(&user.username, &request.sha256)
        .await?;
    let upload = match existing {
        Some(upload) if upload.size == request.size => upload,
        other => {
            if let Some(stale) = other {
                // The same hash with another size: the client was wrong before or is now.
                state.storage.delete_upload(stale.id).await?;
            }
            let used = state.storage.quota_used(&user.username).await?;
            if used + request.size > limits.quota_bytes {
                return Err(ApiError::TooLarge(Said::new(
                    format!(
                        "本账号的文件空间已满：已用 {used} / {} 字节，这个文件需要 {} 字节；请联系领导小组办公室增加空间，或删除不需要的文件",
                        limits.quota_bytes, request.size
                    ),
                    format!(
                        "this account's file quota is full: {used} of {} bytes used, the file needs {}; ask the office to raise it or remove unneeded files",
                        limits.quota_bytes, request.size
                    ),
                )));
            }
            let now = now_ms();
            state
                .storage
                .create_upload(&UploadRecord {
                    id: 0,
                    username: user.username.clone(),
                    sha256: request.sha256.clone(),
                    size: request.size,
                    name: safe_file_name(&request.name),
                    created_at_ms: now,
                    touched_at_ms: now,
                })
                .await?
        }
    };
    state.storage.touch_upload(upload.id, now_ms()).await?;
    let received = state.storage.upload_received(upload.id).await?;
    if received == upload.size {
        // Every byte is here but the upload did not finish (the blob store failed, or the
        // server stopped, after the last part): finish it now, so the client's next attempt
        // completes it without sending anything again.
        return finish(&state, &upload).await;
    }
    Ok(Json(UploadStatus {
        sha256: upload.sha256,
        size: upload.size,
        received,
        complete: false,
    }))
}

/// `PATCH /api/uploads/{sha256}`: the next bytes, from `Upload-Offset`.
pub async fn append(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(sha256): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<UploadStatus>, ApiError> {
    checked_sha(&sha256)?;
    let offset: u64 = headers
        .get(UPLOAD_OFFSET)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| {
            ApiError::BadRequest(Said::new(
                format!("请在 {UPLOAD_OFFSET} 头中给出这段字节的起始位置"),
                format!("send the offset the bytes start at in the {UPLOAD_OFFSET} header"),
            ))
        })?;
    let storage = state.storage.as_ref();
    let Some(upload) = storage.upload(&user.username, &sha256).await? else {
        return finished_or_missing(&state, &user, &sha256).await;
    };
    let Some(generation) = storage.take_upload_writer(upload.id).await? else {
        return finished_or_missing(&state, &user, &sha256).await;
    };
    let mut len = storage.upload_received(upload.id).await?;
    if offset != len {
        return Err(ApiError::Conflict(Said::new(
            format!("服务器已有这个文件的 {len} 字节，请从那里接着传"),
            format!(
                "the server has {len} bytes of this file; continue from there (ask with POST /api/uploads)"
            ),
        )));
    }
    let mut stream = body.into_data_stream();
    let mut pending: Vec<u8> = Vec::new();
    let mut cut = false;
    loop {
        let (bytes, last) = match stream.next().await {
            Some(Ok(bytes)) => (bytes, false),
            // The connection dropped: keep what arrived.
            Some(Err(_)) => {
                cut = true;
                (Bytes::new(), true)
            }
            None => (Bytes::new(), true),
        };
        let room = upload.size.saturating_sub(len + pending.len() as u64);
        if bytes.len() as u64 > room {
            return Err(ApiError::BadRequest(Said::new(
                format!("收到的字节超过了上传开始时说的 {} 字节", upload.size),
                format!(
                    "more bytes than the {} the upload was started with",
                    upload.size
                ),
            )));
        }
        pending.extend_from_slice(&bytes);
        if !pending.is_empty() && (last || pending.len() >= PART_BYTES) {
            len = store_part(storage, &upload, generation, len, &pending).await?;
            pending.clear();
        }
        if last {
            break;
        }
    }
    storage.touch_upload(upload.id, now_ms()).await?;
    if cut || len < upload.size {
        return Ok(Json(UploadStatus {
            sha256,
            size: upload.size,
            received: len,
            complete: false,
        }));
    }
    finish(&state, &upload).await
}

/// A `PATCH` for which there is no upload: done already (by this request's predecessor, or on
/// another server), or never started.
async fn finished_or_missing(
    state: &AppState,
    user: &crate::storage::UserRecord,
    sha256: &str,
) -> Result<Json<UploadStatus>, ApiError> {
    if let Some(blob) = state.storage.blob(sha256).await?
        && may_read(state, user, &blob).await?
    {
        return Ok(complete(&blob));
    }
    Err(ApiError::NotFound(Said::new(
        "这个文件还没有开始上传",
        "no upload of this file was started: start it with POST /api/uploads",
    )))
}

/// Stores `bytes` as the upload's part at `offset`; returns how many bytes the upload has
/// now. A newer request that took over, or bytes stored meanwhile from elsewhere, end this
/// request with 409: the client asks where to continue.
async fn store_part(
    storage: &dyn crate::storage::Storage,
    upload: &UploadRecord,
    generation: i64,
    offset: u64,
    bytes: &[u8],
) -> Result<u64, ApiError> {
    match storage
        .append_upload_part(upload.id, generation, offset, bytes)
        .await?
    {
        PartAppended::Stored { received } => Ok(received),
        PartAppended::TakenOver => Err(ApiError::Conflict(Said::new(
            "这次上传已被一个更新的请求接手",
            "a newer request took over this upload",
        ))),
        PartAppended::WrongOffset { received } => Err(ApiError::Conflict(Said::new(
            format!("服务器已有这个文件的 {received} 字节，请从那里接着传"),
            format!(
                "the server has {received} bytes of this file; continue from there (ask with POST /api/uploads)"
            ),
        ))),
        PartAppended::NoUpload => Err(ApiError::Conflict(Said::new(
            "这次上传已经结束",
            "this upload ended meanwhile; ask with POST /api/uploads",
        ))),
    }
}

/// The last byte arrived: check the hash and the kind, store the file and its thumbnail.
/// When the blob store fails, the upload and its parts stay: a `PATCH` at its full length
/// with no bytes (or the client's next attempt) finishes it without re-sending anything.
async fn finish(state: &AppState, upload: &UploadRecord) -> Result<Json<UploadStatus>, ApiError> {
    let files = &state.files;
    let storage = state.storage.as_ref();
    let bytes = storage.upload_bytes(upload.id).await?;
    let actual = evidence::sha256_hex(&bytes);
    if actual != upload.sha256 || bytes.len() as u64 != upload.size {
        storage.delete_upload(upload.id).await?;
        return Err(ApiError::Unprocessable(Said::new(
            "收到的内容与文件对不上，已丢弃，请重新发送这个文件",
            format!(
                "the bytes received have the SHA-256 {actual}, not {}; the upload was discarded, send the file again",
                upload.sha256
            ),
        )));
    }
    let Some(kind) = FileKind::sniff(&bytes[..bytes.len().min(64)]) else {
        storage.delete_upload(upload.id).await?;
        return Err(ApiError::Unprocessable(Said::new(
            "这种文件不能作佐证材料：请发送照片（JPEG、PNG、WebP、HEIC）、PDF 或办公文档",
            "this kind of file is not accepted as evidence: send a photo (JPEG, PNG, WebP, HEIC), a PDF or an office document",
        )));
    };
    let bytes = Arc::new(bytes);
    let mut has_thumbnail = false;
    if kind.is_drawable_image() {
        let image = Arc::clone(&bytes);
        match crate::blocking::cpu(move || thumbnail(&image)).await {
            Ok(Ok(thumb)) => {
                files
                    .store
                    .put(&upload.sha256, Variant::Thumbnail, &thumb)
                    .await?;
                has_thumbnail = true;
            }
            // A photo the decoder can't read is still evidence; it just has no thumbnail.
            Ok(Err(err)) => tracing::warn!(sha256 = %upload.sha256, error = %err, "no thumbnail"),
            Err(err) => tracing::error!(error = %err, "thumbnail task failed"),
        }
    }
    files
        .store
        .put(&upload.sha256, Variant::Original, &bytes)
        .await?;
    let blob = BlobRecord {
        sha256: upload.sha256.clone(),
        size: upload.size,
        kind,
        name: upload.name.clone(),
        uploaded_by: upload.username.clone(),
        has_thumbnail,
        created_at_ms: now_ms(),
    };
    storage.insert_blob(&blob, Some(upload.id)).await?;
    Ok(complete(&blob))
}

/// A JPEG at most `THUMBNAIL_SIDE` (320 px) on its longest side. Decoding is bounded, so a
/// hostile image (a decompression bomb) fails instead of taking the memory.
pub fn thumbnail(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format()?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_DECODE_SIDE);
    limits.max_image_height = Some(MAX_DECODE_SIDE);
    limits.max_alloc = Some(512 * 1024 * 1024);
    reader.limits(limits);
    let image = reader.decode()?;
    let small = image.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE).to_rgb8();
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 75).encode_image(&small)?;
    Ok(out)
}

/// May `user` read the file? Exactly those who may reference it ([`check_reference`]): the
/// office and viewers, the uploader and the other accounts of its unit, and anyone who may
/// read an item that references it.
async fn may_read(
    state: &AppState,
    user: &crate::storage::UserRecord,
    blob: &BlobRecord,
) -> Result<bool, ApiError> {
    let actor = Actor {
        role: user.role,
        unit: user.unit.clone(),
    };
    let facts =
        crate::file_access::facts(state.storage.as_ref(), &actor, &user.username, blob).await?;
    Ok(check_reference(&actor, user.username.as_str(), &blob.sha256, Some(&facts)).is_ok())
}

/// `GET /api/files/{sha256}`.
pub async fn file(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(sha256): Path<String>,
) -> Result<Response, ApiError> {
    serve(&state, &user, &sha256, Variant::Original).await
}

/// `GET /api/files/{sha256}/thumbnail`.
pub async fn thumbnail_of(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(sha256): Path<String>,
) -> Result<Response, ApiError> {
    serve(&state, &user, &sha256, Variant::Thumbnail).await
}

async fn serve(
    state: &AppState,
    user: &crate::storage::UserRecord,
    sha256: &str,
    variant: Variant,
) -> Result<Response, ApiError> {
    checked_sha(sha256)?;
    // "No such file" and "not yours to read" look the same, so ids can't be probed.
    let not_found = || {
        ApiError::NotFound(Said::new(
            "没有这个文件，或你能查看的事项里没有它",
            "no such file, or no item you may read has it",
        ))
    };
    let blob = state.storage.blob(sha256).await?.ok_or_else(not_found)?;
    if !may_read(state, user, &blob).await? {
        return Err(not_found());
    }
    if variant == Variant::Original {
        // Who read which file (thumbnails, shown with every item, are not recorded).
        state
            .storage
            .write(vec![crate::audit::entry(
                &user.username,
                crate::audit::action::FILE_DOWNLOADED,
                sha256,
                &blob.name,
            )])
            .await?;
    }
    if variant == Variant::Thumbnail && !blob.has_thumbnail {
        return Err(ApiError::NotFound(Said::new(
            "这个文件没有缩略图（只有照片有）",
            "this file has no thumbnail (only photos do)",
        )));
    }
    let bytes = state
        .files
        .store
        .get(sha256, variant)
        .await?
        .ok_or_else(|| anyhow::anyhow!("file {sha256} ({variant:?}) is recorded but not stored"))?;
    let (mime, disposition) = match variant {
        Variant::Thumbnail => ("image/jpeg", "inline".to_owned()),
        Variant::Original => {
            let how = if blob.kind.inline() {
                "inline"
            } else {
                "attachment"
            };
            (
                blob.kind.mime(&blob.name),
                content_disposition(how, &blob.name),
            )
        }
    };
    let headers = [
        (CONTENT_TYPE, mime.to_owned()),
        (CONTENT_DISPOSITION, disposition),
        // Even if a browser were fooled into rendering it, it could run nothing.
        (
            CONTENT_SECURITY_POLICY,
            "default-src 'none'; img-src 'self'; sandbox".to_owned(),
        ),
        (
            CACHE_CONTROL,
            "private, max-age=31536000, immutable".to_owned(),
        ),
        (ETAG, format!("\"{sha256}\"")),
    ];
    Ok((headers, bytes).into_response())
}

/// `inline; filename="ascii"; filename*=UTF-8''percent-encoded` (RFC 6266 and 5987).
pub(crate) fn content_disposition(how: &str, name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("{how}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_disposition_is_safe_for_any_name() {
        assert_eq!(
            content_disposition("inline", "食堂 台账.jpg"),
            "inline; filename=\"__ __.jpg\"; filename*=UTF-8''%E9%A3%9F%E5%A0%82%20%E5%8F%B0%E8%B4%A6.jpg"
        );
        assert_eq!(
            content_disposition("attachment", "a\"b\\c.pdf"),
            "attachment; filename=\"a_b_c.pdf\"; filename*=UTF-8''a%22b%5Cc.pdf"
        );
    }

    #[test]
    fn thumbnails_are_small_jpegs_and_bombs_are_refused() {
        let photo = image::RgbImage::from_fn(1600, 1200, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
        });
        let mut png = Vec::new();
        photo
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let thumb = thumbnail(&png).unwrap();
        assert_eq!(FileKind::sniff(&thumb), Some(FileKind::Jpeg));
        let decoded = image::load_from_memory(&thumb).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (320, 240));

        // A PNG header claiming 100000 × 100000 pixels.
        let mut bomb = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        bomb.extend_from_slice(&100_000u32.to_be_bytes());
        bomb.extend_from_slice(&100_000u32.to_be_bytes());
        bomb.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
        assert!(thumbnail(&bomb).is_err());
    }
}
