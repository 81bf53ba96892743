//! Background housekeeping against real storage: compaction merges a document's chunks into
//! one without losing or reordering anything.

use rectify_server::campaigns::{edit_item, load_document};
use rectify_server::storage;
use rectify_server::{demo, maintenance};
use rectify_shared::ids::UnitId;
use rectify_shared::model::{EditContext, ItemDoc, ItemEdit};
use rectify_shared::policy::{Actor, Role};

fn school_edit(n: usize) -> (EditContext, ItemEdit) {
    let ctx = EditContext {
        actor: Actor {
            role: Role::Unit,
            unit: Some(UnitId::new("pszx1")),
        },
        user: "school1".into(),
        now_ms: i64::try_from(n).unwrap(),
    };
    let edit = ItemEdit::UnitNarrative {
        unit: "pszx1".into(),
        text: format!("第{n}次更新"),
    };
    (ctx, edit)
}

#[tokio::test]
async fn compaction_merges_chunks_and_keeps_every_change() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let storage = storage::open_data_dir(data.path()).await?;
    demo::create_demo(storage.as_ref(), "test-password").await?;
    let campaign = storage.campaigns().await?.remove(0);
    let record = storage
        .items(&campaign.id)
        .await?
        .into_iter()
        // Open: the demo signs off the units of done items, and that locks their entries.
        .find(|r| r.units.iter().any(|u| u == "pszx1") && !r.status.is_done())
        .expect("an item of pszx1");
    for n in 1..=40 {
        let (ctx, edit) = school_edit(n);
        edit_item(storage.as_ref(), &record, &ctx, edit).await?;
    }
    let before = load_document(storage.as_ref(), &record.id)
        .await?
        .expect("stored");
    let chunks = storage.numbered_chunks(&record.id).await?;
    assert!(chunks.len() > 40, "{} chunks", chunks.len());
    let bytes_before: usize = chunks.iter().map(|c| c.data.len()).sum();

    // Only documents with at least that many chunks are touched.
    assert_eq!(
        storage.documents_to_compact(32, 100).await?,
        vec![record.id]
    );
    assert_eq!(maintenance::compact(storage.as_ref(), 32, 100).await?, 1);

    let after_chunks = storage.numbered_chunks(&record.id).await?;
    assert_eq!(after_chunks.len(), 1);
    let bytes_after = after_chunks[0].data.len();
    assert!(
        bytes_after < bytes_before,
        "{bytes_after} bytes after, {bytes_before} before"
    );
    let mut after = load_document(storage.as_ref(), &record.id)
        .await?
        .expect("stored");
    let mut before = before;
    assert_eq!(after.get_heads(), before.get_heads());
    assert_eq!(after.get_changes(&[]).len(), before.get_changes(&[]).len());
    assert_eq!(
        ItemDoc::load(&after)?.progress["pszx1"].narrative.as_str(),
        "第40次更新"
    );

    // A chunk appended after compaction still loads after the merged one.
    let (ctx, edit) = school_edit(41);
    edit_item(storage.as_ref(), &record, &ctx, edit).await?;
    let latest = load_document(storage.as_ref(), &record.id)
        .await?
        .expect("stored");
    assert_eq!(
        ItemDoc::load(&latest)?.progress["pszx1"].narrative.as_str(),
        "第41次更新"
    );
    Ok(())
}

#[tokio::test]
async fn replacing_chunks_that_are_gone_changes_nothing() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let storage = storage::open_data_dir(data.path()).await?;
    demo::create_demo(storage.as_ref(), "test-password").await?;
    let campaign = storage.campaigns().await?.remove(0);
    let record = storage.items(&campaign.id).await?.remove(0);
    let (ctx, edit) = school_edit(1);
    let mut ctx = ctx;
    ctx.actor = Actor {
        role: Role::Office,
        unit: None,
    };
    let edit = match edit {
        ItemEdit::UnitNarrative { text, .. } => ItemEdit::UnitNarrative {
            unit: record.units[0].clone(),
            text,
        },
        other => other,
    };
    edit_item(storage.as_ref(), &record, &ctx, edit).await?;
    let chunks = storage.numbered_chunks(&record.id).await?;
    assert!(chunks.len() >= 2);
    let mut seqs: Vec<i64> = chunks.iter().map(|c| c.seq).collect();
    seqs.push(i64::MAX); // compacted away meanwhile
    assert!(
        !storage
            .replace_chunks(&record.id, &seqs, b"not automerge".to_vec())
            .await?
    );
    assert_eq!(storage.numbered_chunks(&record.id).await?, chunks);
    Ok(())
}
