//! The importer, driven by data: the real report as a golden file, and small cases.
//!
//! Update the snapshots with `UPDATE_EXPECT=1 cargo test -p rectify-shared`, then review
//! the diff.

mod common;

use common::{PENGSHAN, dump};
use expect_test::{Expect, expect, expect_file};
use rectify_shared::import::{self, ImportError};

/// The opening and closing lines of a report, around a section 二 `body`.
const OPENING: &str = "根据区委统一部署,2023年4月13日至6月2日,区委第三巡察组对区教体局党委进行了巡察。\
                       2023年9月14日,巡察组向区教体局党委反馈了巡察意见。\n\
                       二、整改工作具体落实情况\n";
const SIGNATURE: &str = "\n中共眉山市彭山区教育和体育局委员会\n2024年3月27日\n";

/// Imports `body` as section 二 of a report whose header and signature are fine; line 3 of
/// the input is the first line of `body`.
fn check(body: &str, expected: &Expect) {
    let text = format!("{OPENING}{body}{SIGNATURE}");
    expected.assert_eq(&dump(&import::parse(&text), false));
}

/// Imports a whole file.
fn check_file(text: &str, expected: &Expect) {
    expected.assert_eq(&dump(&import::parse(text), true));
}

/// Decodes and imports bytes.
fn check_bytes(bytes: &[u8], expected: &Expect) {
    expected.assert_eq(&dump(&import::import_bytes(bytes), false));
}

#[test]
fn golden_pengshan_2024() {
    let imported = import::parse(PENGSHAN);
    expect_file!["golden/pengshan-2024.txt"].assert_eq(&dump(&imported, true));
}

#[test]
fn pengshan_2024_counts_and_the_line_115_warning() {
    let imported = import::parse(PENGSHAN).expect("the real report imports");
    let totals = imported.report.totals();
    assert_eq!((totals.areas, totals.problems, totals.items), (3, 24, 53));
    assert_eq!(
        (totals.done, totals.done_long_term, totals.in_progress),
        (24, 20, 9)
    );
    let line_115: Vec<_> = imported.warnings.iter().filter(|w| w.line == 115).collect();
    assert_eq!(line_115.len(), 1, "{:#?}", imported.warnings);
    assert!(
        line_115[0].message.contains("sub-problem (2) of problem 7"),
        "{}",
        line_115[0]
    );
    let problem_7 = &imported.report.areas[1].problems[6];
    assert_eq!(problem_7.number, 7);
    let subs: Vec<_> = problem_7.items.iter().map(|i| i.sub).collect();
    assert_eq!(subs, [Some(1), Some(2)]);
    assert_eq!(problem_7.items[1].title, "采购项目管理制度不完善。");
    assert_eq!(imported.report.areas[1].problems[7].number, 8);
}

#[test]
fn same_report_in_every_encoding() {
    let utf8 = import::import_bytes(PENGSHAN.as_bytes()).expect("UTF-8");
    let with_bom = [b"\xEF\xBB\xBF".as_slice(), PENGSHAN.as_bytes()].concat();
    let (gb18030, _, unmappable) = encoding_rs::GB18030.encode(PENGSHAN);
    assert!(!unmappable);
    let utf16le: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(PENGSHAN.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let utf16be: Vec<u8> = [0xFE, 0xFF]
        .into_iter()
        .chain(PENGSHAN.encode_utf16().flat_map(u16::to_be_bytes))
        .collect();
    let crlf = PENGSHAN.replace('\n', "\r\n");
    for (name, bytes) in [
        ("UTF-8 with BOM", with_bom.as_slice()),
        ("GB18030", &gb18030),
        ("UTF-16LE", &utf16le),
        ("UTF-16BE", &utf16be),
        ("CRLF", crlf.as_bytes()),
    ] {
        assert_eq!(import::import_bytes(bytes).as_ref(), Ok(&utf8), "{name}");
    }
}

#[test]
fn full_width_and_half_width_punctuation() {
    let body = "（一）聚焦落实情况方面\n\
                １．问题甲。\n\
                （１）子问题一。\n\
                整改情况：一是开会；二是发文。\n\
                整改进度：整改完成。\n\
                (2)子问题二。\n\
                整改情况 : 已整改。\n\
                整改进度 :整改完成，长期坚持。\n\
                2、问题乙。\n\
                整改情况:一是追回资金;二是约谈.\n\
                整改进度:正在整改中.\n";
    check(
        body,
        &expect![[r#"
            totals: 1 areas, 2 problems, 3 items: 1 done, 1 done long-term, 1 in progress (66.7%)
            area 1: 聚焦落实情况方面
              1. 问题甲。
                (1) 子问题一。
                  status: done (整改完成)
                  - 开会
                  - 发文。
                (2) 子问题二。
                  status: done_long_term (整改完成，长期坚持)
                  narrative: 已整改。
              2. 问题乙。
                status: in_progress (正在整改中)
                - 追回资金
                - 约谈.
            warnings: 1
              line 2: the report has no part 一、整改工作开展情况, 三、整改工作取得的主要成效, 四、下一步工作打算: the campaign keeps them empty, for the office to write (报告 → 报告正文) before the report is published again
                zh: 报告缺少“一、整改工作开展情况”“三、整改工作取得的主要成效”“四、下一步工作打算”部分：暂时留空，请办公室在再次发布报告前填写（报告 → 报告正文）
        "#]],
    );
}

#[test]
fn line_breaks_indentation_and_blank_lines() {
    let text = format!(
        "{OPENING}\r\n\u{3000}(一)聚焦\r\n\r\n  1.问题甲。\r整改情况:一是开会。\r\n\u{3000}\u{3000}二是发文。\r\n\
         \t整改进度:整改完成。 \r\n\r\n中共眉山市彭山区教育和体育局委员会\r\n"
    );
    check_file(
        &text,
        &expect![[r#"
            campaign
              inspector: 区委第三巡察组
              inspected: 区教体局党委
              inspection: 2023-04-13 to 2023-06-02
              feedback: 2023-09-14
              publisher: 中共眉山市彭山区教育和体育局委员会
              preamble: 根据区委统一部署,2023年4月13日至6月2日,区委第三巡察组对区教体局党委进行了巡察。2023年9月14日,巡察组向区教体局党委反馈了巡察意见。
            totals: 1 areas, 1 problems, 1 items: 1 done, 0 done long-term, 0 in progress (100.0%)
            area 1: 聚焦
              1. 问题甲。
                status: done (整改完成)
                - 开会。
                - 发文。
            warnings: 1
              line 2: the report has no part 一、整改工作开展情况, 三、整改工作取得的主要成效, 四、下一步工作打算: the campaign keeps them empty, for the office to write (报告 → 报告正文) before the report is published again
                zh: 报告缺少“一、整改工作开展情况”“三、整改工作取得的主要成效”“四、下一步工作打算”部分：暂时留空，请办公室在再次发布报告前填写（报告 → 报告正文）
        "#]],
    );
}

#[test]
fn every_status_wording() {
    let wordings = [
        "整改完成",
        "已完成",
        "完成整改",
        "已整改",
        "整改到位",
        "整改完成，长期坚持",
        "整改完成,长期坚持",
        "整改完成、长期坚持",
        "整改完成 长期坚持",
        "已完成，长期坚持",
        "长期坚持",
        "正在整改中",
        "正在整改",
        "整改中",
        "未完成",
        "持续整改",
        "基本完成",
        "差不多了",
    ];
    let mut body = String::from("(一)聚焦\n");
    for (i, wording) in wordings.iter().enumerate() {
        body.push_str(&format!(
            "{}.问题。\n整改情况:做了。\n整改进度:{wording}。\n",
            i + 1
        ));
    }
    let imported = import::parse(&format!("{OPENING}{body}{SIGNATURE}")).expect("imports");
    let statuses: Vec<String> = imported.report.areas[0]
        .problems
        .iter()
        .map(|p| {
            let item = &p.items[0];
            format!(
                "{} -> {}",
                item.status_wording.as_deref().unwrap_or("-"),
                common::status_name(item.status)
            )
        })
        .collect();
    let warnings: Vec<String> = imported.warnings.iter().map(ToString::to_string).collect();
    expect![[r#"
        整改完成 -> done
        已完成 -> done
        完成整改 -> done
        已整改 -> done
        整改到位 -> done
        整改完成，长期坚持 -> done_long_term
        整改完成,长期坚持 -> done_long_term
        整改完成、长期坚持 -> done_long_term
        整改完成 长期坚持 -> done_long_term
        已完成，长期坚持 -> done_long_term
        长期坚持 -> done_long_term
        正在整改中 -> in_progress
        正在整改 -> in_progress
        整改中 -> in_progress
        未完成 -> in_progress
        持续整改 -> in_progress
        基本完成 -> in_progress
        差不多了 -> in_progress

        line 2: the report has no part 一、整改工作开展情况, 三、整改工作取得的主要成效, 四、下一步工作打算: the campaign keeps them empty, for the office to write (报告 → 报告正文) before the report is published again
        line 48: 整改进度 "未完成" was imported as 正在整改中 (in progress): 未完成 (not finished) is the same as 正在整改中 in the report's wording
        line 51: 整改进度 "持续整改" was imported as 正在整改中 (in progress): 持续整改 (still being worked on) is not done; work that is done and kept up is worded 整改完成，长期坚持
        line 54: 整改进度 "基本完成" was imported as 正在整改中 (in progress): 基本完成 (basically done) is not a sign-off: 没整改到位绝不销号
        line 57: unknown 整改进度 "差不多了" in problem 18 of area (一): imported as 正在整改中 (in progress); the report's wordings are 整改完成, 整改完成，长期坚持 and 正在整改中
    "#]]
    .assert_eq(&format!("{}\n\n{}\n", statuses.join("\n"), warnings.join("\n")));
}

#[test]
fn regression_line_115_two_dot_for_sub_problem_two() {
    // Pengshan 2024, line 115: `2.` where `(2)` was meant, inside problem 7 of area (二).
    check(
        "(一)聚焦\n\
         1.问题一。\n整改情况:做了。\n整改进度:整改完成。\n\
         2.问题二。\n\
         (1)子问题一。\n整改情况:做了。\n整改进度:整改完成。\n\
         2.子问题二。\n整改情况:做了。\n整改进度:整改完成，长期坚持。\n\
         3.问题三。\n整改情况:做了。\n整改进度:整改完成。\n",
        &expect![[r#"
            totals: 1 areas, 3 problems, 4 items: 3 done, 1 done long-term, 0 in progress (100.0%)
            area 1: 聚焦
              1. 问题一。
                status: done (整改完成)
                narrative: 做了。
              2. 问题二。
                (1) 子问题一。
                  status: done (整改完成)
                  narrative: 做了。
                (2) 子问题二。
                  status: done_long_term (整改完成，长期坚持)
                  narrative: 做了。
              3. 问题三。
                status: done (整改完成)
                narrative: 做了。
            warnings: 2
              line 2: the report has no part 一、整改工作开展情况, 三、整改工作取得的主要成效, 四、下一步工作打算: the campaign keeps them empty, for the office to write (报告 → 报告正文) before the report is published again
                zh: 报告缺少“一、整改工作开展情况”“三、整改工作取得的主要成效”“四、下一步工作打算”部分：暂时留空，请办公室在再次发布报告前填写（报告 → 报告正文）
              line 11: "2." is read as sub-problem (2) of problem 2 in area (一): the problem numbers had reached 2, sub-problem (1) was open and problem 3 follows, so "2." looks like a typo for "(2)"
                zh: “2.”按（一）方面第2个问题的第(2)项读取：问题编号已到2，第(1)项未结束，其后是第3个问题，所以“2.”应是“(2)”的笔误
        "#]],
    );
}

#[test]
fn backwards_problem_numbers_that_are_not_a_typo() {
    // 3.(1) then 2. then 3.: a restart, not a sub-problem; reported as such.
    check(
        "(一)聚焦\n\
         1.问题一。\n整改情况:做了。\n整改进度:整改完成。\n\
         2.问题二。\n(1)子问题一。\n整改情况:做了。\n整改进度:整改完成。\n\
         3.问题三。\n(1)子问题一。\n整改情况:做了。\n整改进度:整改完成。\n\
         2.问题二。\n整改情况:做了。\n整改进度:整改完成。\n\
         3.问题三。\n整改情况:做了。\n整改进度:整改完成。\n",
        &expect![[r#"
            totals: 1 areas, 5 problems, 5 items: 5 done, 0 done long-term, 0 in progress (100.0%)
            area 1: 聚焦
              1. 问题一。
                status: done (整改完成)
                narrative: 做了。
              2. 问题二。
                (1) 子问题一。
                  status: done (整改完成)
                  narrative: 做了。
              3. 问题三。
                (1) 子问题一。
                  status: done (整改完成)
                  narrative: 做了。
              2. 问题二。
                status: done (整改完成)
                narrative: 做了。
              3. 问题三。
                status: done (整改完成)
                narrative: 做了。
            warnings: 2
              line 2: the report has no part 一、整改工作开展情况, 三、整改工作取得的主要成效, 四、下一步工作打算: the campaign keeps them empty, for the office to write (报告 → 报告正文) before the report is published again
                zh: 报告缺少“一、整改工作开展情况”“三、整改工作取得的主要成效”“四、下一步工作打算”部分：暂时留空，请办公室在再次发布报告前填写（报告 → 报告正文）
              line 15: problem 2 comes after problem 3 in area (一): the numbering goes backwards (imported as numbered)
                zh: （一）方面的第2个问题在第3个问题之后：编号倒退（按原编号导入）
        "#]],
    );
}

#[test]
fn numbering_gaps_and_repeats() {
    check(
        "(一)聚焦\n\
         1.问题一。\n(1)甲。\n整改情况:做了。\n整改进度:整改完成。\n\
         (3)丙。\n整改情况:做了。\n整改进度:整改完成。\n\
         (3)丙又一次。\n整改情况:做了。\n整改进度:整改完成。\n\
         3.问题三。\n整改情况:做了。\n整改进度:整改完成。\n\
         (三)聚焦\n\
         1.问题一。\n整改情况:做了。\n整改进度:整改完成。\n\
         (十一)聚焦\n\
         2.问题二。\n整改情况:做了。\n整改进度:整改完成。\n",
        &expect![[r#"
            totals: 3 areas, 4 problems, 6 items: 6 done, 0 done long-term, 0 in progress (100.0%)
            area 1: 聚焦
              1. 问题一。
                (1) 甲。
                  status: done (整改完成)
                  narrative: 做了。
                (3) 丙。
                  status: done (整改完成)
                  narrative: 做了。
                (3) 丙又一次。
                  status: done (整改完成)
                  narrative: 做了。
              3. 问题三。
                status: done (整改完成)
                narrative: 做了。
            area 3: 聚焦
              1. 问题一。
                status: done (整改完成)
                narrative: 做了。
            area 11: 聚焦
              2. 问题二。
                status: done (整改完成)
                narrative: 做了。
            warnings: 7
              line 2: the report has no part 一、整改工作开展情况, 三、整改工作取得的主要成效, 四、下一步工作打算: the campaign keeps them empty, for the office to write (报告 → 报告正文) before the report is published again
                zh: 报告缺少“一、整改工作开展情况”“三、整改工作取得的主要成效”“四、下一步工作打算”部分：暂时留空，请办公室在再次发布报告前填写（报告 → 报告正文）
              line 8: sub-problem (3) follows sub-problem (1) in problem 1 of area (一): sub-problem (2) is missing (imported as numbered)
                zh: （一）方面第1个问题的第(3)项接在第(1)项之后：缺少第(2)项（按原编号导入）
              line 11: sub-problem (3) appears twice in problem 1 of area (一) (imported as numbered)
                zh: （一）方面第1个问题的第(3)项出现了两次（按原编号导入）
              line 14: problem 3 follows problem 1 in area (一): problem 2 is missing (imported as numbered)
                zh: （一）方面的第3个问题接在第1个问题之后：缺少第2个问题（按原编号导入）
              line 17: area (三) follows area (一): area (二) is missing (imported as numbered)
                zh: （三）方面接在（一）方面之后：缺少（二）方面（按原编号导入）
              line 21: area (十一) follows area (三): area (四) to area (十) are missing (imported as numbered)
                zh: （十一）方面接在（三）方面之后：缺少（四）方面至（十）方面（按原编号导入）
              line 22: problem 2 is the first in area (十一), expected problem 1 (imported as numbered)
                zh: （十一）方面的第2个问题是第一个，应为第1个问题（按原编号导入）
        "#]],
    );
}

#[test]
fn missing_narrative_or_status() {
    check(
        "(一)聚焦\n\
         1.没有整改进度。\n整改情况:一是开会。\n\
         2.没有整改情况。\n整改进度:整改完成。\n\
         3.什么都没有。\n\
         4.整改进度是空的。\n整改情况:做了。\n整改进度:\n\
         5.子问题没有内容。\n(1)甲。\n(2)乙。\n整改情况:做了。\n整改进度:整改完成。\n\
         6.最后一项被截断。\n(1)甲。\n整改情况:一是开会；二是",
        &expect![[r#"
            totals: 1 areas, 6 problems, 7 items: 2 done, 0 done long-term, 5 in progress (28.6%)
            area 1: 聚焦
              1. 没有整改进度。
                status: in_progress (-)
                - 开会。
              2. 没有整改情况。
                status: done (整改完成)
                narrative: 
              3. 什么都没有。
                status: in_progress (-)
                narrative: 
              4. 整改进度是空的。
                status: in_progress (-)
                narrative: 做了。
              5. 子问题没有内容。
                (1) 甲。
                  status: in_progress (-)
                  narrative: 
                (2) 乙。
                  status: done (整改完成)
                  narrative: 做了。
              6. 最后一项被截断。
                (1) 甲。
                  status: in_progress (-)
                  - 开会
                  - 
            warnings: 7
              line 2: the report has no part 一、整改工作开展情况, 三、整改工作取得的主要成效, 四、下一步工作打算: the campaign keeps them empty, for the office to write (报告 → 报告正文) before the report is published again
                zh: 报告缺少“一、整改工作开展情况”“三、整改工作取得的主要成效”“四、下一步工作打算”部分：暂时留空，请办公室在再次发布报告前填写（报告 → 报告正文）
              line 4: problem 1 of area (一) has no 整改进度: imported as 正在整改中 (in progress)
                zh: （一）方面第1个问题没有整改进度：按“正在整改中”导入
              line 6: problem 2 of area (一) has no 整改情况: imported without a narrative
                zh: （一）方面第2个问题没有整改情况：导入时没有整改情况说明
              line 8: problem 3 of area (一) has neither 整改情况 nor 整改进度: imported as 正在整改中 (in progress), without a narrative
                zh: （一）方面第3个问题既没有整改情况也没有整改进度：按“正在整改中”导入，没有整改情况说明
              line 11: the 整改进度 of problem 4 of area (一) is empty: imported as 正在整改中 (in progress)
                zh: （一）方面第4个问题的整改进度为空：按“正在整改中”导入
              line 13: item 5(1) of area (一) has neither 整改情况 nor 整改进度: imported as 正在整改中 (in progress), without a narrative
                zh: （一）方面第5个问题第(1)项既没有整改情况也没有整改进度：按“正在整改中”导入，没有整改情况说明
              line 18: item 6(1) of area (一) has no 整改进度: imported as 正在整改中 (in progress)
                zh: （一）方面第6个问题第(1)项没有整改进度：按“正在整改中”导入
        "#]],
    );
}

#[test]
fn continuation_lines() {
    check(
        "(一)聚焦党中央各项决策部署\n在基层的落实情况方面\n\
         1.问题标题\n跨了两行。\n\
         整改情况:\n一是开会。\n二是发文，\n并印发了眉彭教体发〔2023〕49号。\n\
         整改进度:\n整改完成。\n\
         这一行不属于任何地方。\n\
         2.问题二。\n整改情况:做了。\n整改进度:整改完成。\n",
        &expect![[r#"
            totals: 1 areas, 2 problems, 2 items: 2 done, 0 done long-term, 0 in progress (100.0%)
            area 1: 聚焦党中央各项决策部署在基层的落实情况方面
              1. 问题标题跨了两行。
                status: done (整改完成)
                - 开会。
                - 发文，⏎并印发了眉彭教体发〔2023〕49号。
                documents: 眉彭教体发〔2023〕49号
              2. 问题二。
                status: done (整改完成)
                narrative: 做了。
            warnings: 4
              line 2: the report has no part 一、整改工作开展情况, 三、整改工作取得的主要成效, 四、下一步工作打算: the campaign keeps them empty, for the office to write (报告 → 报告正文) before the report is published again
                zh: 报告缺少“一、整改工作开展情况”“三、整改工作取得的主要成效”“四、下一步工作打算”部分：暂时留空，请办公室在再次发布报告前填写（报告 → 报告正文）
              line 4: this line is not a header nor 整改情况/整改进度: read as the rest of the title of area (一) and joined to it
                zh: 此行既不是标题也不是整改情况/整改进度：作为（一）方面标题的后半部分，接在标题后
              line 6: this line is not a header nor 整改情况/整改进度: read as the rest of the title of problem 1 of area (一) and joined to it
                zh: 此行既不是标题也不是整改情况/整改进度：作为（一）方面第1个问题标题的后半部分，接在标题后
              line 13: text after the 整改进度 of problem 1 of area (一) was ignored: expected the next item, problem or area
                zh: （一）方面第1个问题的整改进度之后的文字已忽略：此处应是下一个事项、问题或部分
        "#]],
    );
}

#[test]
fn lines_before_the_first_area() {
    check(
        "针对巡察反馈的问题,逐条整改如下:\n\
         1.问题一。\n整改情况:做了。\n整改进度:整改完成。\n\
         2.问题二。\n\
         (一)聚焦\n\
         1.问题一。\n整改情况:做了。\n整改进度:整改完成。\n",
        &expect![[r#"
            totals: 1 areas, 1 problems, 1 items: 1 done, 0 done long-term, 0 in progress (100.0%)
            area 1: 聚焦
              1. 问题一。
                status: done (整改完成)
                narrative: 做了。
            warnings: 4
              line 2: the report has no part 一、整改工作开展情况, 三、整改工作取得的主要成效, 四、下一步工作打算: the campaign keeps them empty, for the office to write (报告 → 报告正文) before the report is published again
                zh: 报告缺少“一、整改工作开展情况”“三、整改工作取得的主要成效”“四、下一步工作打算”部分：暂时留空，请办公室在再次发布报告前填写（报告 → 报告正文）
              line 3: text before the first area header such as "(一)聚焦…" was skipped
                zh: 第一个“(一)聚焦…”这样的部分标题之前的文字已跳过
              line 4: "1." comes before any area header such as "(一)聚焦…": this problem and its lines were skipped
                zh: “1.”出现在任何“(一)聚焦…”这样的部分标题之前：这个问题及其各行已跳过
              line 7: "2." comes before any area header such as "(一)聚焦…": this problem and its lines were skipped
                zh: “2.”出现在任何“(一)聚焦…”这样的部分标题之前：这个问题及其各行已跳过
        "#]],
    );
}

#[test]
fn narrative_written_as_numbered_paragraphs_is_not_a_section() {
    check(
        "(一)聚焦\n\
         1.问题一。\n整改情况:\n一、召开专题会议\n二、印发整改方案\n三、开展专项检查\n整改进度:整改完成。\n\
         2.问题二。\n整改情况:做了。\n整改进度:整改完成。\n",
        &expect![[r#"
            totals: 1 areas, 2 problems, 2 items: 2 done, 0 done long-term, 0 in progress (100.0%)
            area 1: 聚焦
              1. 问题一。
                status: done (整改完成)
                narrative: 一、召开专题会议⏎二、印发整改方案⏎三、开展专项检查
              2. 问题二。
                status: done (整改完成)
                narrative: 做了。
            warnings: 1
              line 2: the report has no part 一、整改工作开展情况, 三、整改工作取得的主要成效, 四、下一步工作打算: the campaign keeps them empty, for the office to write (报告 → 报告正文) before the report is published again
                zh: 报告缺少“一、整改工作开展情况”“三、整改工作取得的主要成效”“四、下一步工作打算”部分：暂时留空，请办公室在再次发布报告前填写（报告 → 报告正文）
        "#]],
    );
}

#[test]
fn a_summary_that_does_not_add_up() {
    check(
        "(一)聚焦\n1.问题一。\n整改情况:做了。\n整改进度:整改完成。\n\
         截至目前,共反馈问题2个,细化为整改事项3项。\n",
        &expect![[r#"
            totals: 1 areas, 1 problems, 1 items: 1 done, 0 done long-term, 0 in progress (100.0%)
            area 1: 聚焦
              1. 问题一。
                status: done (整改完成)
                narrative: 做了。
            warnings: 2
              line 2: the report has no part 一、整改工作开展情况, 三、整改工作取得的主要成效, 四、下一步工作打算: the campaign keeps them empty, for the office to write (报告 → 报告正文) before the report is published again
                zh: 报告缺少“一、整改工作开展情况”“三、整改工作取得的主要成效”“四、下一步工作打算”部分：暂时留空，请办公室在再次发布报告前填写（报告 → 报告正文）
              line 7: the summary says 2 problems and 3 items, but the report lists 1 problems and 1 items
                zh: 总结中写的是问题2个、整改事项3项，但报告列出的是问题1个、事项1项
        "#]],
    );
}

#[test]
fn items_in_another_section_are_reported() {
    check(
        "(一)聚焦\n1.问题一。\n整改情况:做了。\n整改进度:整改完成。\n\
         三、其他问题\n(一)另一个方面\n1.问题。\n整改情况:做了。\n整改进度:整改完成。\n",
        &expect![[r#"
            totals: 1 areas, 1 problems, 1 items: 1 done, 0 done long-term, 0 in progress (100.0%)
            area 1: 聚焦
              1. 问题一。
                status: done (整改完成)
                narrative: 做了。
            warnings: 2
              line 2: the report has no part 一、整改工作开展情况, 四、下一步工作打算: the campaign keeps them empty, for the office to write (报告 → 报告正文) before the report is published again
                zh: 报告缺少“一、整改工作开展情况”“四、下一步工作打算”部分：暂时留空，请办公室在再次发布报告前填写（报告 → 报告正文）
              line 10: section 三 also has 整改情况/整改进度 lines: only section 二 was read for items; these lines are kept as text of section 三
                zh: 第三部分也有“整改情况/整改进度”行：只从第二部分读取整改事项，这些行作为第三部分的正文保留
        "#]],
    );
}

#[test]
fn a_list_without_sections_header_or_signature() {
    check_file(
        "(一)聚焦\n1.问题一。\n整改情况:做了。\n整改进度:整改完成。\n",
        &expect![[r#"
            campaign
              inspector: -
              inspected: -
              inspection: - to -
              feedback: -
              publisher: -
              preamble: 
            totals: 1 areas, 1 problems, 1 items: 1 done, 0 done long-term, 0 in progress (100.0%)
            area 1: 聚焦
              1. 问题一。
                status: done (整改完成)
                narrative: 做了。
            warnings: 2
              line 1: the report does not open with a paragraph saying who inspected whom and when: the campaign header (inspector, inspected body, dates) is empty
                zh: 报告开头没有说明由谁、何时对谁进行巡察的段落：巡察信息（巡察组、被巡察单位、日期）为空
              line 4: the report does not end with the publishing body's name (such as '中共眉山市彭山区教育和体育局委员会'): publisher left empty
                zh: 报告末尾没有发文单位名称（如“中共眉山市彭山区教育和体育局委员会”）：发文单位留空
        "#]],
    );
}

#[test]
fn a_title_line_and_an_opening_paragraph_without_dates() {
    check_file(
        "中共某某局委员会关于巡察整改情况的通报\n\
         现将巡察整改情况予以公布。\n\
         二、整改工作具体落实情况\n\
         (一)聚焦\n1.问题一。\n整改情况:做了。\n整改进度:整改完成。\n\
         中共某某局委员会\n",
        &expect![[r#"
            campaign
              inspector: -
              inspected: -
              inspection: - to -
              feedback: -
              publisher: 中共某某局委员会
              preamble: 现将巡察整改情况予以公布。
              title: 中共某某局委员会关于巡察整改情况的通报
            totals: 1 areas, 1 problems, 1 items: 1 done, 0 done long-term, 0 in progress (100.0%)
            area 1: 聚焦
              1. 问题一。
                status: done (整改完成)
                narrative: 做了。
            warnings: 4
              line 2: the opening paragraph does not say who inspected whom (expected '…巡察组对…进行了巡察'): inspector and inspected body left empty
                zh: 开头一段没有说明由谁对谁进行巡察（应为“…巡察组对…进行了巡察”）：巡察组和被巡察单位留空
              line 2: the opening paragraph has no inspection period (expected '2023年4月13日至6月2日'): left empty
                zh: 开头一段没有巡察时间（应为“2023年4月13日至6月2日”）：留空
              line 2: the opening paragraph has no feedback date (expected '2023年9月14日,巡察组…反馈了巡察意见'): left empty
                zh: 开头一段没有反馈日期（应为“2023年9月14日，巡察组…反馈了巡察意见”）：留空
              line 3: the report has no part 一、整改工作开展情况, 三、整改工作取得的主要成效, 四、下一步工作打算: the campaign keeps them empty, for the office to write (报告 → 报告正文) before the report is published again
                zh: 报告缺少“一、整改工作开展情况”“三、整改工作取得的主要成效”“四、下一步工作打算”部分：暂时留空，请办公室在再次发布报告前填写（报告 → 报告正文）
        "#]],
    );
}

#[test]
fn errors() {
    let cut_off = format!("{OPENING}(一)聚焦党中央各项决策部署在基层的落实情况方面\n");
    let cases: [(&str, &[u8], &Expect); 9] = [
        (
            "empty",
            b"",
            &expect![[r#"
                error: the file is empty (or only blank lines): choose the report's text file and try again
                  zh: 文件是空的（或只有空行）：请选择报告的文本文件后重试
            "#]],
        ),
        (
            "blank",
            " \r\n\u{3000}\n\t\n".as_bytes(),
            &expect![[r#"
                error: the file is empty (or only blank lines): choose the report's text file and try again
                  zh: 文件是空的（或只有空行）：请选择报告的文本文件后重试
            "#]],
        ),
        (
            "png",
            b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
            &expect![[r#"
                error: this does not look like a text report (found binary data at byte 8); save the report as .txt or .docx
                  zh: 这看起来不是文本格式的报告（第8字节处是二进制数据）：请把报告另存为 .txt 或 .docx
            "#]],
        ),
        (
            "controls",
            b"\x01\x02\x03abc\x04\x05\x06",
            &expect![[r#"
                error: this does not look like a text report (found binary data at byte 0); save the report as .txt or .docx
                  zh: 这看起来不是文本格式的报告（第0字节处是二进制数据）：请把报告另存为 .txt 或 .docx
            "#]],
        ),
        (
            "undecodable",
            b"(\xd2\xbb)\xff\xfe\xfd",
            &expect![[r#"
                error: this does not look like a text report (found binary data at byte 4); save the report as .txt or .docx
                  zh: 这看起来不是文本格式的报告（第4字节处是二进制数据）：请把报告另存为 .txt 或 .docx
            "#]],
        ),
        (
            "UTF-16 without its last byte",
            b"\xff\xfe(\x00\x00",
            &expect![[r#"
                error: this does not look like a text report (found binary data at byte 4); save the report as .txt or .docx
                  zh: 这看起来不是文本格式的报告（第4字节处是二进制数据）：请把报告另存为 .txt 或 .docx
            "#]],
        ),
        (
            "prose",
            "这是一份会议纪要。\n没有任何整改事项。\n".as_bytes(),
            &expect![[r#"
                error: found no rectification items: expected lines like '(一)聚焦…', '1.…', '整改情况:…', '整改进度:…'
                  zh: 没有找到整改事项：应有“(一)聚焦…”“1.…”“整改情况：…”“整改进度：…”这样的行
            "#]],
        ),
        (
            "sections without items",
            "一、整改工作开展情况\n高度重视。\n三、下一步工作打算\n继续努力。\n".as_bytes(),
            &expect![[r#"
                error: found no rectification items: expected lines like '(一)聚焦…', '1.…', '整改情况:…', '整改进度:…'
                  zh: 没有找到整改事项：应有“(一)聚焦…”“1.…”“整改情况：…”“整改进度：…”这样的行
            "#]],
        ),
        (
            "cut off",
            cut_off.as_bytes(),
            &expect![[r#"
                error: the report ends at line 3 ('(一)聚焦党中央各项决策部署在基层的落实情况方面') before any rectification item: the file seems cut off; import the complete report
                  zh: 报告在第3行（“(一)聚焦党中央各项决策部署在基层的落实情况方面”）就结束了，还没有任何整改事项：文件似乎不完整，请导入完整的报告
            "#]],
        ),
    ];
    for (name, bytes, expected) in cases {
        let result = import::import_bytes(bytes);
        assert!(result.is_err(), "{name}");
        expected.assert_eq(&dump(&result, false));
    }
}

#[test]
fn cut_off_right_after_the_section_header() {
    assert_eq!(
        import::parse(OPENING),
        Err(ImportError::Truncated {
            line: 2,
            last: "二、整改工作具体落实情况".to_owned()
        })
    );
}

#[test]
fn stray_control_characters_are_dropped_with_a_warning() {
    check_bytes(
        format!(
            "{OPENING}(一)聚焦\n1.问题一\u{1a}。\n整改情况:做了。\n整改进度:整改完成。{SIGNATURE}"
        )
        .as_bytes(),
        &expect![[r#"
            totals: 1 areas, 1 problems, 1 items: 1 done, 0 done long-term, 0 in progress (100.0%)
            area 1: 聚焦
              1. 问题一。
                status: done (整改完成)
                narrative: 做了。
            warnings: 2
              line 2: the report has no part 一、整改工作开展情况, 三、整改工作取得的主要成效, 四、下一步工作打算: the campaign keeps them empty, for the office to write (报告 → 报告正文) before the report is published again
                zh: 报告缺少“一、整改工作开展情况”“三、整改工作取得的主要成效”“四、下一步工作打算”部分：暂时留空，请办公室在再次发布报告前填写（报告 → 报告正文）
              line 4: removed control characters from this line (U+001A)
                zh: 删除了此行中的控制字符（U+001A）
        "#]],
    );
}

#[test]
fn unbalanced_quotes_are_reported() {
    check(
        "(一)聚焦\n1.党建带团建”工作落实不够到位。\n整改情况:印发了《规划2021-2025)》。\n整改进度:整改完成。\n",
        &expect![[r#"
            totals: 1 areas, 1 problems, 1 items: 1 done, 0 done long-term, 0 in progress (100.0%)
            area 1: 聚焦
              1. 党建带团建”工作落实不够到位。
                status: done (整改完成)
                narrative: 印发了《规划2021-2025)》。
            warnings: 3
              line 2: the report has no part 一、整改工作开展情况, 三、整改工作取得的主要成效, 四、下一步工作打算: the campaign keeps them empty, for the office to write (报告 → 报告正文) before the report is published again
                zh: 报告缺少“一、整改工作开展情况”“三、整改工作取得的主要成效”“四、下一步工作打算”部分：暂时留空，请办公室在再次发布报告前填写（报告 → 报告正文）
              line 4: the title of problem 1 of area (一) has '”' without a matching '“' (kept as written)
                zh: （一）方面第1个问题的标题有「”」而没有对应的「“」（按原文保留）
              line 5: the 整改情况 of problem 1 of area (一) has ')' without a matching '(' (kept as written)
                zh: （一）方面第1个问题的整改情况有「)」而没有对应的「(」（按原文保留）
        "#]],
    );
}

// No input makes the importer panic (a fuzzer will follow; these catch the obvious).

/// Pieces that real reports and broken ones are made of.
const LINE_STARTS: &[&str] = &[
    "",
    "(一)",
    "（十一）",
    "(九十九)",
    "(零)",
    "(1)",
    "（４）",
    "(4294967295)",
    "1.",
    "2、",
    "３．",
    "4294967295.",
    "0.",
    "一、",
    "二、整改工作具体落实情况",
    "三、",
    "整改情况:",
    "整改进度：",
    "截至目前,共反馈问题",
    "中共某局委员会",
    "2024年3月27日",
    "\u{feff}",
    "\u{3000}",
];
const LINE_PIECES: &[&str] = &[
    "一是",
    "二是",
    "十一是",
    "〔2023〕",
    "[2020]-",
    "49号",
    "2023年",
    "12月",
    "7日",
    "——",
    "至",
    "“",
    "”",
    "《",
    "》",
    "(",
    ")",
    "（",
    "整改完成",
    "长期坚持",
    "基本完成",
    "，",
    "。",
    "；",
    "\u{3000}",
    "对",
    "巡察组",
    "进行了巡察",
    "反馈",
    "x",
    "\u{1a}",
    "\u{0}",
    "9",
];
const LINE_ENDS: &[&str] = &["\n", "\r\n", "\r", ""];

fn report_like_line() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    (
        prop::sample::select(LINE_STARTS),
        prop::collection::vec(prop::sample::select(LINE_PIECES), 0..6),
        prop::sample::select(LINE_ENDS),
    )
        .prop_map(|(start, pieces, end)| format!("{start}{}{end}", pieces.concat()))
}

proptest::proptest! {
    #[test]
    fn never_panics_on_any_bytes(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
        let _ = import::import_bytes(&bytes);
    }

    #[test]
    fn never_panics_on_report_like_text(lines in proptest::collection::vec(report_like_line(), 0..40)) {
        let text = lines.concat();
        if let Ok(imported) = import::parse(&text) {
            // Whatever was imported can be written out again.
            let _ = rectify_shared::report::text::build(&imported.report);
            let _ = rectify_shared::report::html::build(&imported.report);
        }
    }
}

/// A report cut off in the middle of section 二 is refused, not stored as half a report.
#[test]
fn cut_inside_an_item_is_refused() {
    let whole = PENGSHAN.as_bytes();
    let cases: [(&str, Vec<u8>, Expect); 3] = [
        (
            "cut inside a character",
            whole[..20_000].to_vec(),
            expect![[r#"
                error: the file ends in the middle of a character (at byte 19998): it seems cut off; import the complete report
                  zh: 文件在一个字符中间结束（第19998字节处）：似乎不完整，请导入完整的报告
            "#]],
        ),
        (
            "cut after a narrative line",
            PENGSHAN
                .lines()
                .take(30)
                .collect::<Vec<_>>()
                .join("\n")
                .into_bytes(),
            expect![[r#"
                error: the report ends at line 30 in the middle of an item ('整改情况:一是探索兼职教研员模式。从基层学校选拔优秀教师兼任'), with no 整改进度 after it and no closing sections: the file seems cut off; import the complete report
                  zh: 报告在第30行（“整改情况:一是探索兼职教研员模式。从基层学校选拔优秀教师兼任”）结束于一个事项中间，其后没有整改进度，也没有结尾部分：文件似乎不完整，请导入完整的报告
            "#]],
        ),
        (
            "cut after a problem line",
            PENGSHAN
                .lines()
                .take(8)
                .collect::<Vec<_>>()
                .join("\n")
                .into_bytes(),
            expect![[r#"
                error: the report ends at line 8 in the middle of an item ('1.落实党组织领导的校长负责制不够及时。'), with no 整改进度 after it and no closing sections: the file seems cut off; import the complete report
                  zh: 报告在第8行（“1.落实党组织领导的校长负责制不够及时。”）结束于一个事项中间，其后没有整改进度，也没有结尾部分：文件似乎不完整，请导入完整的报告
            "#]],
        ),
    ];
    for (name, bytes, expected) in cases {
        let result = import::import_bytes(&bytes);
        assert!(result.is_err(), "{name}");
        expected.assert_eq(&dump(&result, false));
    }
}
