//! The ledger (台账) as an Excel workbook, ready to filter and to print: a sheet with one row
//! per leaf item ([`COLUMNS`]) and one with each assigned unit's work on each item
//! ([`UNIT_COLUMNS`]), both with Chinese column labels.

use rectify_shared::ledger::{COLUMNS, LedgerRow, UNIT_COLUMNS, UnitLedgerRow};
use rust_xlsxwriter::{
    ColNum, Color, DocProperties, ExcelDateTime, Format, FormatAlign, FormatBorder, RowNum,
    Workbook,
};

/// The worksheets' names: the items, then each unit's work on them.
const SHEET_NAME: &str = "台账";
const UNIT_SHEET_NAME: &str = "各单位";
/// Excel's limit for the text of one cell, in UTF-16 code units.
const MAX_CELL_UTF16: usize = 32_767;
/// Excel's last row (1,048,576 rows, numbered from 0).
const MAX_ROW: RowNum = 1_048_575;

/// Why the ledger could not be written.
#[derive(Debug, thiserror::Error)]
pub enum XlsxError {
    #[error("the ledger has {rows} rows, more than a spreadsheet can hold: export it as CSV")]
    TooManyRows { rows: usize },
    #[error("could not write the ledger spreadsheet: {0}")]
    Write(#[from] rust_xlsxwriter::XlsxError),
}

/// Writes the ledger as `.xlsx`: a worksheet named 台账 with one row per item and, after
/// it, one named 各单位 with one row per assigned unit of each item ([`UnitLedgerRow`]: who
/// is signed off, by whom and when), each with, when `sheet_title` is not empty, a title
/// row above the header.
///
/// The headers (bold, shaded, frozen, with an autofilter) have the Chinese labels of
/// [`COLUMNS`] and [`UNIT_COLUMNS`]; numbers (问题序号, 整改措施数, 佐证材料数) are numbers,
/// everything else is text, so a value such as `=cmd()` stays text. A cell longer than
/// Excel allows is cut and ends with `…`. Printing is set up as A4 landscape, one page wide,
/// with the header row repeated on every page. The output is deterministic: its creation
/// time is fixed.
pub fn write_ledger(
    rows: &[LedgerRow],
    units: &[UnitLedgerRow],
    sheet_title: &str,
) -> Result<Vec<u8>, XlsxError> {
    let title = sheet_title.trim();
    let document_title = if title.is_empty() {
        "整改台账"
    } else {
        title
    };
    let mut workbook = Workbook::new();
    workbook.set_properties(
        &DocProperties::new()
            .set_title(document_title)
            .set_author("Rectify")
            // Fixed, so that the same ledger gives the same bytes.
            .set_creation_datetime(&ExcelDateTime::from_ymd(2000, 1, 1)?),
    );
    let items: Vec<Vec<String>> = rows.iter().map(LedgerRow::cells).collect();
    add_sheet(&mut workbook, SHEET_NAME, title, COLUMNS, &items)?;
    let unit_title = if title.is_empty() {
        String::new()
    } else {
        format!("{title}（各单位整改情况）")
    };
    let per_unit: Vec<Vec<String>> = units.iter().map(UnitLedgerRow::cells).collect();
    add_sheet(
        &mut workbook,
        UNIT_SHEET_NAME,
        &unit_title,
        UNIT_COLUMNS,
        &per_unit,
    )?;
    Ok(workbook.save_to_buffer()?)
}

/// One sheet of the ledger: `columns` as (key, label), `rows` of cells in that order.
fn add_sheet(
    workbook: &mut Workbook,
    name: &str,
    title: &str,
    columns: &[(&str, &str)],
    rows: &[Vec<String>],
) -> Result<(), XlsxError> {
    let header_row: RowNum = if title.is_empty() { 0 } else { 1 };
    let first_data_row = header_row + 1;
    let last_row = RowNum::try_from(rows.len())
        .ok()
        .and_then(|len| header_row.checked_add(len))
        .filter(|&last| last <= MAX_ROW)
        .ok_or(XlsxError::TooManyRows { rows: rows.len() })?;
    // The columns are short constant lists: they always fit.
    let last_col = ColNum::try_from(columns.len().saturating_sub(1)).unwrap_or(ColNum::MAX);

    let sheet = workbook.add_worksheet();
    sheet.set_name(name)?;

    let font = "宋体";
    let title_format = Format::new()
        .set_font_name(font)
        .set_font_size(16)
        .set_bold()
        .set_align(FormatAlign::Center)
        .set_align(FormatAlign::VerticalCenter);
    let header_format = Format::new()
        .set_font_name(font)
        .set_bold()
        .set_background_color(Color::RGB(0x00D9_E1F2))
        .set_border(FormatBorder::Thin)
        .set_text_wrap()
        .set_align(FormatAlign::Center)
        .set_align(FormatAlign::VerticalCenter);
    let text_format = Format::new()
        .set_font_name(font)
        .set_border(FormatBorder::Thin)
        .set_text_wrap()
        .set_align(FormatAlign::Top);
    let number_format = Format::new()
        .set_font_name(font)
        .set_border(FormatBorder::Thin)
        .set_align(FormatAlign::Center)
        .set_align(FormatAlign::Top);

    if !title.is_empty() {
        sheet.merge_range(0, 0, 0, last_col, &fit_cell(title), &title_format)?;
        sheet.set_row_height(0, 30)?;
    }
    for (col, (key, label)) in (0..).zip(columns) {
        sheet.write_string_with_format(header_row, col, *label, &header_format)?;
        sheet.set_column_width(col, column_width(key))?;
    }
    for (row, cells) in (first_data_row..).zip(rows) {
        for ((col, (key, _)), text) in (0..).zip(columns).zip(cells) {
            match number(key, text) {
                Some(value) => sheet.write_number_with_format(row, col, value, &number_format)?,
                None => sheet.write_string_with_format(row, col, fit_cell(text), &text_format)?,
            };
        }
    }

    sheet.set_freeze_panes(first_data_row, 0)?;
    sheet.autofilter(header_row, 0, last_row, last_col)?;
    sheet.set_landscape();
    sheet.set_paper_size(9); // A4
    sheet.set_print_fit_to_pages(1, 0); // one page wide, as many pages tall as needed
    sheet.set_repeat_rows(header_row, header_row)?;
    sheet.set_footer("&C第 &P 页，共 &N 页");
    Ok(())
}

/// A plain table as `.xlsx` (the audit log): one sheet named `sheet_name`, a bold, frozen
/// header row with an autofilter, then every row as text (so a value such as `=cmd()`
/// stays text), each cell cut to Excel's limit. Deterministic, like [`write_ledger`].
pub fn write_table(
    sheet_name: &str,
    headers: &[&str],
    rows: &[Vec<String>],
) -> Result<Vec<u8>, XlsxError> {
    let last_row = RowNum::try_from(rows.len())
        .ok()
        .filter(|&last| last <= MAX_ROW)
        .ok_or(XlsxError::TooManyRows { rows: rows.len() })?;
    let last_col = ColNum::try_from(headers.len().saturating_sub(1)).unwrap_or(ColNum::MAX);
    let mut workbook = Workbook::new();
    workbook.set_properties(
        &DocProperties::new()
            .set_title(sheet_name)
            .set_author("Rectify")
            .set_creation_datetime(&ExcelDateTime::from_ymd(2000, 1, 1)?),
    );
    let sheet = workbook.add_worksheet();
    sheet.set_name(sheet_name)?;
    let header_format = Format::new()
        .set_bold()
        .set_background_color(Color::RGB(0x00D9_E1F2))
        .set_border(FormatBorder::Thin);
    for (col, header) in (0..).zip(headers) {
        sheet.write_string_with_format(0, col, *header, &header_format)?;
        sheet.set_column_width(col, 18.0)?;
    }
    for (row, cells) in (1..).zip(rows) {
        for (col, text) in (0..).zip(cells) {
            sheet.write_string(row, col, fit_cell(text))?;
        }
    }
    sheet.set_freeze_panes(1, 0)?;
    sheet.autofilter(0, 0, last_row, last_col)?;
    Ok(workbook.save_to_buffer()?)
}

/// The value of a numeric column's cell, `None` for a text column.
fn number(key: &str, text: &str) -> Option<f64> {
    match key {
        "problem_no" | "measures_count" | "evidence_count" => text.parse().ok(),
        _ => None,
    }
}

/// Column widths in characters of the default font; a Chinese character takes about two.
fn column_width(key: &str) -> f64 {
    match key {
        "area" => 6.0,
        "area_title" => 28.0,
        "problem_no" | "item_no" | "timing" => 10.0,
        "title" => 50.0,
        "public_status" => 14.0,
        "responsible_leader" | "responsible_department" | "deadline" => 12.0,
        "units" => 24.0,
        "measures_count" | "evidence_count" => 12.0,
        "last_change" | "signed_off_at" | "updated" => 17.0,
        "unit" => 20.0,
        "narrative" => 60.0,
        "state" | "signed_off_by" | "measures_done" => 10.0,
        _ => 14.0,
    }
}

/// The text cut to Excel's cell limit, ending with `…` when it was cut.
fn fit_cell(text: &str) -> std::borrow::Cow<'_, str> {
    if text.encode_utf16().count() <= MAX_CELL_UTF16 {
        return text.into();
    }
    let mut out = String::new();
    let mut units = 0;
    for c in text.chars() {
        // Keep one unit for the ellipsis.
        if units + c.len_utf16() > MAX_CELL_UTF16 - 1 {
            break;
        }
        units += c.len_utf16();
        out.push(c);
    }
    out.push('…');
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::{Data, Reader, Xlsx, open_workbook_from_rs};
    use std::io::{Cursor, Read};

    fn generated_rows(count: usize) -> Vec<LedgerRow> {
        (0..count)
            .map(|i| LedgerRow {
                area: ["一", "二", "三"][i % 3].to_owned(),
                area_title: format!("聚焦第{}方面", i % 3 + 1),
                problem_no: u32::try_from(i / 3 + 1).expect("small"),
                item_no: format!("{}({})", i / 3 + 1, i % 3 + 1),
                title: format!("存在问题{i}。"),
                public_status: "整改完成，长期坚持".to_owned(),
                responsible_leader: if i % 2 == 0 {
                    "张三".to_owned()
                } else {
                    String::new()
                },
                responsible_department: "计财股".to_owned(),
                units: "彭山一中、彭山三中".to_owned(),
                deadline: "2024-06-30".to_owned(),
                timing: "长期坚持".to_owned(),
                measures_count: i % 4,
                evidence_count: i * 10,
                last_change: "2024-03-27 09:30".to_owned(),
            })
            .collect()
    }

    fn read_back(bytes: Vec<u8>) -> (Vec<Vec<Data>>, Vec<Vec<String>>) {
        let mut workbook: Xlsx<_> = open_workbook_from_rs(Cursor::new(bytes)).expect("an xlsx");
        assert_eq!(
            workbook.sheet_names(),
            vec![SHEET_NAME.to_owned(), UNIT_SHEET_NAME.to_owned()]
        );
        let range = workbook.worksheet_range(SHEET_NAME).expect("the sheet");
        let formulas = workbook.worksheet_formula(SHEET_NAME).expect("formulas");
        assert_eq!(range.start(), Some((0, 0)));
        (
            range.rows().map(<[Data]>::to_vec).collect(),
            formulas.rows().map(<[String]>::to_vec).collect(),
        )
    }

    /// The cell calamine should read for a ledger cell: numbers as floats, empty text as
    /// an empty cell.
    fn expected_cell(key: &str, text: &str) -> Data {
        match key {
            "problem_no" | "measures_count" | "evidence_count" => {
                Data::Float(text.parse().expect("a number"))
            }
            _ if text.is_empty() => Data::Empty,
            _ => Data::String(text.to_owned()),
        }
    }

    #[test]
    fn ledger_reads_back_with_labels_and_typed_cells() {
        let mut rows = generated_rows(53);
        let mut odd = rows[0].clone();
        odd.title = "=cmd()".to_owned();
        odd.responsible_leader = "<tag> & \"quotes\"".to_owned();
        odd.units = "学校🏫、幼儿园👶".to_owned();
        odd.area_title = "+1".to_owned();
        odd.item_no = "@SUM(A1)".to_owned();
        odd.timing = "tab\tnew line\ncontrol\u{1}_x0041_".to_owned();
        rows.push(odd);

        let bytes = write_ledger(&rows, &[], "彭山区教体局巡察整改台账").expect("write");
        let (cells, formulas) = read_back(bytes);

        assert_eq!(
            cells[0][0],
            Data::String("彭山区教体局巡察整改台账".to_owned())
        );
        let labels: Vec<Data> = COLUMNS
            .iter()
            .map(|(_, label)| Data::String((*label).to_owned()))
            .collect();
        assert_eq!(cells[1], labels);
        assert_eq!(cells.len(), 2 + rows.len());
        for (row, line) in rows.iter().zip(&cells[2..]) {
            let expected: Vec<Data> = COLUMNS
                .iter()
                .zip(row.cells())
                .map(|((key, _), text)| expected_cell(key, &text))
                .collect();
            assert_eq!(line, &expected, "row {}", row.item_no);
        }
        assert!(
            formulas.iter().flatten().all(String::is_empty),
            "no cell is a formula"
        );
    }

    #[test]
    fn without_title_the_header_is_the_first_row() {
        let rows = generated_rows(2);
        let (cells, _) = read_back(write_ledger(&rows, &[], "  ").expect("write"));
        assert_eq!(cells[0][0], Data::String("方面".to_owned()));
        assert_eq!(cells[1][2], Data::Float(1.0));
        assert_eq!(cells.len(), 3);
    }

    #[test]
    fn empty_ledger_has_just_the_header() {
        let (cells, _) = read_back(write_ledger(&[], &[], "").expect("write"));
        assert_eq!(cells.len(), 1);
        assert_eq!(cells[0].len(), COLUMNS.len());
    }

    #[test]
    fn overlong_text_is_cut_to_the_cell_limit() {
        let mut rows = generated_rows(1);
        rows[0].title = "整".repeat(40_000);
        // Two UTF-16 units each, after one: an emoji is never split, so one unit is left.
        rows[0].units = format!("a{}", "🏫".repeat(20_000));
        let (cells, _) = read_back(write_ledger(&rows, &[], "").expect("write"));
        let Data::String(title) = &cells[1][4] else {
            panic!("title is text: {:?}", cells[1][4]);
        };
        assert_eq!(title.chars().count(), MAX_CELL_UTF16);
        assert!(title.ends_with("整…"));
        let Data::String(units) = &cells[1][8] else {
            panic!("units is text: {:?}", cells[1][8]);
        };
        assert_eq!(units.encode_utf16().count(), MAX_CELL_UTF16 - 1);
        assert!(units.ends_with("🏫…"));
    }

    /// The package carries the frozen header, the autofilter and the print setup, and the
    /// same rows give the same bytes.
    #[test]
    fn sheet_setup_and_deterministic_output() {
        let rows = generated_rows(53);
        let bytes = write_ledger(&rows, &[], "台账标题").expect("write");
        assert_eq!(
            bytes,
            write_ledger(&rows, &[], "台账标题").expect("write again")
        );

        let mut archive = zip::ZipArchive::new(Cursor::new(&bytes[..])).expect("a zip");
        let mut part = |name: &str| {
            let mut text = String::new();
            archive
                .by_name(name)
                .expect(name)
                .read_to_string(&mut text)
                .expect("UTF-8");
            text
        };
        let sheet = part("xl/worksheets/sheet1.xml");
        for expected in [
            "<pane ySplit=\"2\" topLeftCell=\"A3\" activePane=\"bottomLeft\" state=\"frozen\"/>",
            "<autoFilter ref=\"A2:N55\"/>",
            "<pageSetUpPr fitToPage=\"1\"/>",
            "paperSize=\"9\"",
            "orientation=\"landscape\"",
            "fitToHeight=\"0\"",
        ] {
            assert!(sheet.contains(expected), "sheet has {expected}");
        }
        let workbook = part("xl/workbook.xml");
        assert!(
            workbook.contains("_xlnm.Print_Titles"),
            "repeated header row"
        );
        assert!(workbook.contains("台账!$2:$2"), "{workbook}");
        let core = part("docProps/core.xml");
        assert!(core.contains("<dc:title>台账标题</dc:title>"));
        assert!(core.contains("<dc:creator>Rectify</dc:creator>"));
        assert!(core.contains("2000-01-01T00:00:00Z"), "{core}");
    }

    #[test]
    fn cell_fitting() {
        assert_eq!(fit_cell("短"), "短");
        let exact = "a".repeat(MAX_CELL_UTF16);
        assert_eq!(fit_cell(&exact), exact.as_str());
        let over = format!("{exact}b");
        let fitted = fit_cell(&over);
        assert_eq!(fitted.encode_utf16().count(), MAX_CELL_UTF16);
        assert!(fitted.ends_with("a…"));
    }
}
