//! The `rectify` command line end to end: import, export, report, and bad input that must
//! fail clearly without touching what is stored.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const REPORT: &str = include_str!("../../shared/tests/data/pengshan-2024.txt");

fn rectify(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rectify"))
        .args(args)
        .arg("--data")
        .arg(data)
        .env("RECTIFY_LOG", "warn")
        .output()
        .expect("the rectify binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn export_csv(data: &Path) -> String {
    let out = rectify(data, &["export", "--format", "csv"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn import_export_and_report_the_real_report() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = write(dir.path(), "report.txt", REPORT.as_bytes());

    let out = rectify(&data, &["import", file.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        stdout.contains("3 areas, 24 problems, 53 items"),
        "{stdout}"
    );
    assert!(
        stdout.contains("24 整改完成, 20 整改完成，长期坚持, 9 正在整改中"),
        "{stdout}"
    );
    assert!(
        stdout.contains("line 115: \"2.\" is read as sub-problem (2) of problem 7"),
        "{stdout}"
    );
    assert!(
        stdout.contains("items: 53 new, 0 updated, 0 unchanged"),
        "{stdout}"
    );

    // The same report again duplicates nothing.
    let before = export_csv(&data);
    let again = rectify(&data, &["import", file.to_str().unwrap()]);
    assert!(
        text(&again.stdout).contains("items: 0 new, 0 updated, 53 unchanged"),
        "{}",
        text(&again.stdout)
    );
    assert_eq!(export_csv(&data), before);

    // The ledger: CSV with a BOM, one row per item, the report's wording.
    let csv = before;
    assert!(csv.starts_with('\u{feff}'));
    let rows: Vec<&str> = csv.trim_end().split("\r\n").collect();
    assert_eq!(rows.len(), 54, "a header and 53 items");
    assert!(rows[0].contains("area,area_title,problem_no,item_no,title,public_status"));
    let count = |wording: &str| {
        rows.iter()
            .filter(|r| r.split(',').any(|cell| cell.trim_matches('"') == wording))
            .count()
    };
    assert_eq!(
        (
            count("整改完成"),
            count("整改完成，长期坚持"),
            count("正在整改中")
        ),
        (24, 20, 9)
    );
    assert!(
        rows.iter()
            .any(|r| r.contains(",7,7(2),采购项目管理制度不完善。,")),
        "item 7(2) is in the ledger"
    );

    // JSON and XLSX.
    let json = rectify(&data, &["export", "--format", "json"]);
    let parsed: Vec<serde_json::Value> = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(parsed.len(), 53);
    let xlsx_path = dir.path().join("ledger.xlsx");
    let out = rectify(
        &data,
        &[
            "export",
            "--format",
            "xlsx",
            "-o",
            xlsx_path.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    use calamine::Reader;
    let mut workbook: calamine::Xlsx<_> = calamine::open_workbook(&xlsx_path).unwrap();
    let range = workbook.worksheet_range("台账").unwrap();
    let titles = range
        .rows()
        .filter(|row| {
            row.iter()
                .any(|c| matches!(c, calamine::Data::String(s) if s == "采购项目管理制度不完善。"))
        })
        .count();
    assert_eq!(titles, 1);
    assert!(
        range.height() >= 54,
        "header and 53 rows: {}",
        range.height()
    );

    // The public report in each format imports back to the same 53 items.
    for format in ["txt", "docx"] {
        let path = dir.path().join(format!("report.{format}"));
        let out = rectify(
            &data,
            &["report", "--format", format, "-o", path.to_str().unwrap()],
        );
        assert!(out.status.success(), "{format}: {}", text(&out.stderr));
        let back = rectify(
            &dir.path().join("other"),
            &["import", "--dry-run", path.to_str().unwrap()],
        );
        let stdout = text(&back.stdout);
        assert!(back.status.success(), "{format}: {}", text(&back.stderr));
        assert!(
            stdout.contains("3 areas, 24 problems, 53 items"),
            "{format}: {stdout}"
        );
        assert!(
            stdout.contains("24 整改完成, 20 整改完成，长期坚持, 9 正在整改中 (完成率 83.0%)"),
            "{format}: {stdout}"
        );
    }
    let html = rectify(&data, &["report", "--format", "html"]);
    let html = text(&html.stdout);
    assert!(
        html.starts_with("<!DOCTYPE html>") || html.starts_with("<!doctype html>"),
        "{}",
        &html[..50]
    );
    assert!(html.contains("采购项目管理制度不完善"));
}

/// Each bad file fails with a message and a non-zero exit, and what was stored stays as it was.
#[test]
fn bad_input_fails_clearly_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let good = write(dir.path(), "report.txt", REPORT.as_bytes());
    assert!(
        rectify(&data, &["import", good.to_str().unwrap()])
            .status
            .success()
    );
    let stored = export_csv(&data);

    let mut binary = b"\x7fELF\x02\x01\x01\0\0\0".to_vec();
    binary.extend((0..2000u32).map(|i| (i * 7 % 256) as u8));
    let cut_item: String = REPORT.lines().take(30).collect::<Vec<_>>().join("\n");
    let cases: &[(&str, &[u8], &str)] = &[
        ("binary.txt", &binary, "does not look like a text report"),
        ("empty.txt", b"", "the file is empty"),
        ("blank.txt", b"\n \r\n\t\n", "the file is empty"),
        (
            "prose.txt",
            "这是一段没有整改事项的文字。\n".as_bytes(),
            "found no rectification items",
        ),
        (
            "cut-char.txt",
            &REPORT.as_bytes()[..20_000],
            "ends in the middle of a character",
        ),
        (
            "cut-item.txt",
            cut_item.as_bytes(),
            "in the middle of an item",
        ),
        ("broken.docx", b"PK\x03\x04 not really a zip", "docx"),
    ];
    for (name, bytes, message) in cases {
        let path = write(dir.path(), name, bytes);
        let out = rectify(&data, &["import", path.to_str().unwrap()]);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{name} must fail");
        assert!(
            stderr.contains("was not imported") && stderr.contains(message),
            "{name}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        assert_eq!(export_csv(&data), stored, "{name} changed what was stored");
    }
    let missing = rectify(
        &data,
        &["import", dir.path().join("nope.txt").to_str().unwrap()],
    );
    assert!(!missing.status.success());
    assert!(
        text(&missing.stderr).contains("cannot read"),
        "{}",
        text(&missing.stderr)
    );
}

#[test]
fn export_without_a_campaign_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = rectify(dir.path(), &["export", "--format", "csv"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("import a report first"),
        "{}",
        text(&out.stderr)
    );
}

/// `rectify user list | head` and `rectify report | head`: the reader goes away before the
/// output is written. The command ends quietly and successfully, as command-line tools do;
/// it panicked ("failed printing to stdout: Broken pipe") or reported an error before.
#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = write(dir.path(), "report.txt", REPORT.as_bytes());
    let demo = rectify(&data, &["demo", "--password", "rectify-demo"]);
    assert!(demo.status.success(), "{}", text(&demo.stderr));
    let import = rectify(&data, &["import", file.to_str().unwrap()]);
    assert!(import.status.success(), "{}", text(&import.stderr));
    for args in [&["user", "list"][..], &["report", "--format", "txt"][..]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rectify"))
            .args(args)
            .arg("--data")
            .arg(&data)
            .env("RECTIFY_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the rectify binary runs");
        // Closed before the program (still opening its database) writes anything.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        assert_eq!(text(&out.stderr), "", "{args:?}");
    }
}

/// `rectify migrate-schema` (issue #21): every imported item once, nothing the second time;
/// its help says it is not for a live district yet.
#[test]
fn migrate_schema_moves_every_item_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = write(dir.path(), "report.txt", REPORT.as_bytes());
    let out = rectify(&data, &["import", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let out = rectify(&data, &["migrate-schema"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("53 item(s) migrated to schema version 2; 0 already were."),
        "{stdout}"
    );
    let out = rectify(&data, &["migrate-schema"]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("0 item(s) migrated to schema version 2; 53 already were."),
        "{stdout}"
    );

    let out = rectify(&data, &["migrate-schema", "--help"]);
    assert!(
        text(&out.stdout).contains("NOT YET FOR USE"),
        "{}",
        text(&out.stdout)
    );
}
