//! The builders: text that the importer reads back, and printable HTML.

mod common;

use common::PENGSHAN;
use expect_test::expect;
use proptest::prelude::*;
use rectify_shared::date::Date;
use rectify_shared::import;
use rectify_shared::report::{Area, CampaignHeader, Item, Problem, Report, html, text};
use rectify_shared::status::PublicStatus;

/// `status_wording` comes back as the canonical wording of the status.
fn canonical_wordings(mut areas: Vec<Area>) -> Vec<Area> {
    for item in areas
        .iter_mut()
        .flat_map(|a| &mut a.problems)
        .flat_map(|p| &mut p.items)
    {
        item.status_wording = Some(item.status.wording().to_owned());
    }
    areas
}

#[test]
fn pengshan_2024_round_trips_through_text() {
    let first = import::parse(PENGSHAN).expect("imports");
    let rebuilt = text::build(&first.report);
    let second = import::parse(&rebuilt).expect("re-imports");
    assert_eq!(second.report.campaign, first.report.campaign);
    assert_eq!(
        second.report.areas,
        canonical_wordings(first.report.areas.clone())
    );
    // The typo on line 115 is gone; the unbalanced quotes of the source are still there.
    let messages = |imported: &import::Imported| -> Vec<String> {
        imported
            .warnings
            .iter()
            .map(|w| w.message.clone())
            .collect()
    };
    let mut expected = messages(&first);
    expected.retain(|m| !m.contains("looks like a typo"));
    assert_eq!(messages(&second), expected);
    // Building again gives the very same text.
    assert_eq!(text::build(&second.report), rebuilt);
}

#[test]
fn pengshan_2024_text_opening_and_closing() {
    let report = import::parse(PENGSHAN).expect("imports").report;
    let rebuilt = text::build(&report);
    let lines: Vec<&str> = rebuilt.lines().collect();
    let shown = [&lines[..6], &lines[lines.len() - 4..]].concat().join("\n");
    expect![[r#"
        根据区委统一部署,2023年4月13日至6月2日,区委第三巡察组对区教体局党委进行了巡察。2023年9月14日,巡察组向区教体局党委反馈了巡察意见。按照党务公开原则和巡察有关工作要求,现将巡察整改情况予以公布。
        二、整改工作具体落实情况
        (一)聚焦党中央各项决策部署在基层的落实情况方面
        1.落实党组织领导的校长负责制不够及时。
        (1)专职党组织负责人未及时配置。
        整改情况:一是区委组织部已于2023年8月22日下发了《关于同意彭山一中等6个党组织调整和设立纪律检查委员会的批复》(〔2023〕—90)。彭山一中、彭山二中已升格为党委,彭山三中、彭山一小、彭山二小、实验小学已升格为党总支。二是区教体局已印发了“眉彭教体发〔2023〕49号”“眉彭教体委发〔2023〕23号”“眉彭教体委发〔2023〕24号”等文件,为彭山一中等6所学校配备了党组织书记、校长,完成分设,为职高等9所学校配备了专职副书记。
        整改情况:一是各校均根据本校实际,制定了聘用劳务人员管理制度;二是摸排了2023年秋劳务人员情况;三是进一步探索将劳务人员纳入第三方机构管理聘用。目前,幼儿园已经为代课教师购买保险。
        整改进度:正在整改中。
        截至目前,共反馈问题24个,细化为整改事项53项,已整改完成44项(其中整改完成24项,整改完成，长期坚持20项),正在整改中9项,完成率83.0%。
        中共眉山市彭山区教育和体育局委员会"#]]
    .assert_eq(&shown);
}

fn small_report() -> Report {
    let item = |sub, title: &str, narrative: &str, status: PublicStatus| Item {
        sub,
        title: title.to_owned(),
        narrative: narrative.to_owned(),
        status,
        status_wording: None,
        measures: Vec::new(),
        document_numbers: Vec::new(),
        dates: Vec::new(),
    };
    Report {
        campaign: CampaignHeader {
            inspector: Some("区委第三巡察组".to_owned()),
            inspected: Some("区教体局党委".to_owned()),
            inspection_start: Date::new(2023, 4, 13),
            inspection_end: Date::new(2023, 6, 2),
            feedback_date: Date::new(2023, 9, 14),
            publisher: Some("中共眉山市彭山区教育和体育局委员会".to_owned()),
            preamble: String::new(),
        },
        areas: vec![Area {
            number: 1,
            title: "聚焦<script>alert('x')</script>&方面".to_owned(),
            problems: vec![
                Problem {
                    number: 1,
                    title: "问题甲。".to_owned(),
                    items: vec![
                        item(
                            Some(1),
                            "子问题一。",
                            "一是开会；二是发文。",
                            PublicStatus::Done,
                        ),
                        item(
                            Some(2),
                            "子问题二。",
                            "已追回。\n并约谈。",
                            PublicStatus::DoneLongTerm,
                        ),
                    ],
                },
                Problem {
                    number: 2,
                    title: "问题乙。".to_owned(),
                    items: vec![item(
                        None,
                        "问题乙。",
                        "正在推进。",
                        PublicStatus::InProgress,
                    )],
                },
            ],
        }],
    }
}

#[test]
fn text_of_a_small_report() {
    expect![[r#"
        2023年4月13日至6月2日,区委第三巡察组对区教体局党委进行了巡察。2023年9月14日,巡察组向区教体局党委反馈了巡察意见。现将巡察整改情况予以公布。
        二、整改工作具体落实情况
        (一)聚焦<script>alert('x')</script>&方面
        1.问题甲。
        (1)子问题一。
        整改情况:一是开会；二是发文。
        整改进度:整改完成。
        (2)子问题二。
        整改情况:已追回。
        并约谈。
        整改进度:整改完成，长期坚持。
        2.问题乙。
        整改情况:正在推进。
        整改进度:正在整改中。
        截至目前,共反馈问题2个,细化为整改事项3项,已整改完成2项(其中整改完成1项,整改完成，长期坚持1项),正在整改中1项,完成率66.7%。
        中共眉山市彭山区教育和体育局委员会
    "#]]
    .assert_eq(&text::build(&small_report()));
}

#[test]
fn a_composed_opening_is_read_back_into_the_same_header() {
    let report = small_report();
    let imported = import::parse(&text::build(&report)).expect("imports");
    assert_eq!(imported.warnings, []);
    let mut expected = report.campaign.clone();
    expected.preamble = text::opening(&report.campaign);
    assert_eq!(imported.report.campaign, expected);
}

#[test]
fn measures_without_a_narrative_become_the_narrative() {
    let mut report = small_report();
    let item = &mut report.areas[0].problems[1].items[0];
    item.narrative.clear();
    item.measures = vec!["开会。".to_owned(), "发文".to_owned()];
    let imported = import::parse(&text::build(&report)).expect("imports");
    let item = &imported.report.areas[0].problems[1].items[0];
    assert_eq!(item.narrative, "一是开会。；二是发文");
    assert_eq!(item.measures, ["开会。", "发文"]);
}

#[test]
fn html_of_a_small_report() {
    let html = html::build(&small_report());
    assert!(
        html.starts_with(
            "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">"
        )
    );
    assert!(html.contains("@media print") && html.contains("size: A4") && html.contains("serif"));
    assert!(!html.contains("<script>"), "text must be escaped");
    assert!(html.contains("聚焦&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;方面"));
    let body = &html[html.find("<main>").expect("main")..];
    expect![[r#"
        <main>
        <header>
        <h1>中共眉山市彭山区教育和体育局委员会关于区委第三巡察组巡察反馈意见整改情况的通报</h1>
        <p class="preamble">2023年4月13日至6月2日,区委第三巡察组对区教体局党委进行了巡察。2023年9月14日,巡察组向区教体局党委反馈了巡察意见。现将巡察整改情况予以公布。</p>
        <dl class="campaign">
        <dt>巡察组</dt><dd>区委第三巡察组</dd>
        <dt>被巡察单位</dt><dd>区教体局党委</dd>
        <dt>巡察时间</dt><dd>2023年4月13日至2023年6月2日</dd>
        <dt>反馈时间</dt><dd>2023年9月14日</dd>
        <dt>发布单位</dt><dd>中共眉山市彭山区教育和体育局委员会</dd>
        </dl>
        </header>
        <section class="summary">
        <h2>整改总体情况</h2>
        <table class="totals">
        <thead><tr><th>反馈问题</th><th>整改事项</th><th>整改完成</th><th>整改完成，长期坚持</th><th>正在整改中</th><th>完成率</th></tr></thead>
        <tbody><tr><td>2</td><td>3</td><td>1</td><td>1</td><td>1</td><td>66.7%</td></tr></tbody>
        </table>
        <p>截至目前,共反馈问题2个,细化为整改事项3项,已整改完成2项(其中整改完成1项,整改完成，长期坚持1项),正在整改中1项,完成率66.7%。</p>
        </section>
        <section class="items">
        <h2>二、整改工作具体落实情况</h2>
        <section class="area">
        <h3>(一)聚焦&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;方面</h3>
        <article class="problem">
        <h4>1.问题甲。</h4>
        <div class="item">
        <h5>(1)子问题一。 <span class="badge done">整改完成</span></h5>
        <p><span class="label">整改情况:</span>一是开会；二是发文。</p>
        <p><span class="label">整改进度:</span><span class="badge done">整改完成</span></p>
        </div>
        <div class="item">
        <h5>(2)子问题二。 <span class="badge done-long-term">整改完成，长期坚持</span></h5>
        <p><span class="label">整改情况:</span>已追回。<br>
        并约谈。</p>
        <p><span class="label">整改进度:</span><span class="badge done-long-term">整改完成，长期坚持</span></p>
        </div>
        </article>
        <article class="problem">
        <h4>2.问题乙。</h4>
        <div class="item">
        <p><span class="label">整改情况:</span>正在推进。</p>
        <p><span class="label">整改进度:</span><span class="badge in-progress">正在整改中</span></p>
        </div>
        </article>
        </section>
        </section>
        <p class="signature">中共眉山市彭山区教育和体育局委员会</p>
        </main>
        </body>
        </html>
    "#]]
    .assert_eq(body);
}

#[test]
fn html_of_the_real_report_has_every_item() {
    let report = import::parse(PENGSHAN).expect("imports").report;
    let html = html::build(&report);
    assert_eq!(html.matches("<div class=\"item\">").count(), 53);
    let status = |key: &str| format!("整改进度:</span><span class=\"badge {key}\">");
    assert_eq!(html.matches(&status("done")).count(), 24);
    assert_eq!(html.matches(&status("done-long-term")).count(), 20);
    assert_eq!(html.matches(&status("in-progress")).count(), 9);
    assert!(html.contains("<td>83.0%</td>"));
}

#[test]
fn escape() {
    assert_eq!(
        html::escape(r#"<a href="x">'&'</a>"#),
        "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
    );
}

// Random reports: text::build, then import::parse, give back the same tree, without warnings.

/// Characters for titles and narratives: no numerals (一…十), no 是, no 年月日号, nothing
/// that the header, the ordinals, dates or the summary line could take for theirs.
const CHARS: &[char] = &[
    '教', '体', '局', '学', '校', '财', '务', '管', '理', '制', '度', '落', '实', '不', '够', '到',
    '位', '党', '建', '工', '作', '采', '购', '项', '目', '监', '督', '检', '查', '食', '堂', '资',
    '金', '培', '训', '会', '议', '文', '件', '清', '单', '台', '账', '规', '范', '安', '全', '推',
    '责', '任', '部', '门', '领', '导', '问', '题', '园', '师', '生', '区', '县',
];

fn word() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(CHARS), 1..6).prop_map(String::from_iter)
}

/// A few words with inner punctuation, maybe ending with 。.
fn phrase() -> impl Strategy<Value = String> {
    (
        prop::collection::vec((word(), prop::sample::select(&["，", "、", ""][..])), 1..4),
        any::<bool>(),
    )
        .prop_map(|(words, full_stop)| {
            let mut text = String::new();
            for (i, (word, separator)) in words.iter().enumerate() {
                if i > 0 {
                    text.push_str(separator);
                }
                text.push_str(word);
            }
            if full_stop {
                text.push('。');
            }
            text
        })
}

/// Evidence a measure may mention, in brackets as reports write it.
const EVIDENCE: &[&str] = &[
    "",
    "（眉彭教体发〔2023〕49号）",
    "于2023年8月22日",
    "（〔2023〕—90）",
];

/// A narrative with its measures (一是…二是…), and the measures, document numbers and dates
/// the importer should find in it.
fn narrative() -> impl Strategy<Value = (String, Vec<String>, Vec<String>, Vec<String>)> {
    const ORDINALS: [&str; 5] = ["一是", "二是", "三是", "四是", "五是"];
    let separator = prop::sample::select(&["；", ";", "。", "，"][..]);
    let measure = (phrase(), prop::sample::select(EVIDENCE), separator);
    let measures = prop::collection::vec(measure, 0..=ORDINALS.len());
    (prop::option::of(phrase()), measures, phrase()).prop_map(|(lead, measures, plain)| {
        if measures.is_empty() {
            return (plain, Vec::new(), Vec::new(), Vec::new());
        }
        let mut text = lead.map(|lead| format!("{lead}：")).unwrap_or_default();
        let (mut expected, mut documents, mut dates) = (Vec::new(), Vec::new(), Vec::new());
        for (ordinal, (phrase, evidence, separator)) in ORDINALS.iter().zip(&measures) {
            text.push_str(&format!("{ordinal}{phrase}{evidence}{separator}"));
            // A final 。 stays with the measure, other separators do not.
            let kept = if *separator == "。" { "。" } else { "" };
            expected.push(format!("{phrase}{evidence}{kept}"));
            let found = evidence
                .trim_matches(['（', '）'])
                .trim_start_matches('于')
                .to_owned();
            let list = if evidence.contains('〔') {
                &mut documents
            } else {
                &mut dates
            };
            if !found.is_empty() && !list.contains(&found) {
                list.push(found);
            }
        }
        (text, expected, documents, dates)
    })
}

fn item(sub: Option<u32>, title: String) -> impl Strategy<Value = Item> {
    (narrative(), prop::sample::select(&PublicStatus::ALL[..])).prop_map(
        move |((narrative, measures, document_numbers, dates), status)| Item {
            sub,
            title: title.clone(),
            narrative,
            status,
            status_wording: Some(status.wording().to_owned()),
            measures,
            document_numbers,
            dates,
        },
    )
}

fn problem(number: u32) -> impl Strategy<Value = Problem> {
    (phrase(), 0..4usize).prop_flat_map(move |(title, subs)| {
        let items: Vec<BoxedStrategy<Item>> = if subs == 0 {
            vec![item(None, title.clone()).boxed()]
        } else {
            (1..=subs as u32)
                .map(|sub| phrase().prop_flat_map(move |t| item(Some(sub), t)).boxed())
                .collect()
        };
        items.prop_map(move |items| Problem {
            number,
            title: title.clone(),
            items,
        })
    })
}

fn area(number: u32) -> impl Strategy<Value = Area> {
    (phrase(), 1..5u32).prop_flat_map(move |(title, problems)| {
        let problems: Vec<_> = (1..=problems).map(problem).collect();
        problems.prop_map(move |problems| Area {
            number,
            title: title.clone(),
            problems,
        })
    })
}

fn campaign() -> impl Strategy<Value = CampaignHeader> {
    (
        word(),
        word(),
        word(),
        18_000i64..20_500,
        0i64..60,
        10i64..120,
    )
        .prop_map(
            |(inspector, inspected, publisher, start, length, until_feedback)| {
                let start = Date::from_days_since_epoch(start);
                let end = start.add_days(length);
                CampaignHeader {
                    inspector: Some(format!("区委{inspector}巡察组")),
                    inspected: Some(format!("{inspected}党委")),
                    inspection_start: Some(start),
                    inspection_end: Some(end),
                    feedback_date: Some(end.add_days(until_feedback)),
                    publisher: Some(format!("中共{publisher}委员会")),
                    preamble: String::new(),
                }
            },
        )
}

fn report() -> impl Strategy<Value = Report> {
    (campaign(), 1..4u32).prop_flat_map(|(campaign, areas)| {
        let areas: Vec<_> = (1..=areas).map(area).collect();
        areas.prop_map(move |areas| Report {
            campaign: campaign.clone(),
            areas,
        })
    })
}

proptest! {
    #[test]
    fn random_reports_round_trip_through_text(report in report()) {
        let built = text::build(&report);
        let imported = import::parse(&built).map_err(|e| TestCaseError::fail(format!("{e}\n{built}")))?;
        prop_assert_eq!(&imported.warnings, &Vec::new(), "{}", built);
        let mut expected = report.clone();
        expected.campaign.preamble = text::opening(&report.campaign);
        prop_assert_eq!(imported.report, expected, "{}", built);
    }
}
