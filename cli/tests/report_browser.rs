//! The HTML report in a real browser.
//!
//! A report is only useful if it opens, offline, on whatever laptop an operations lead has. So
//! this test fills a hub store with a month of cases from three vendor sites, writes the HTML
//! report, and opens it in headless Chromium (Debian's `chromium`, which `cargo xtask test`
//! installs): every chart must be drawn, the page must fetch nothing (no URL in any `src` or
//! `href`, a Content-Security-Policy that forbids fetching, and Chromium run behind a proxy
//! that does not exist, with its network log checked), and a screenshot is saved to
//! `target/report-screenshot.png` for people to look at.
//!
//! Without Chromium the test fails, unless `DOSSIER_SKIP_BROWSER=1` says to skip it.
//!
//! `cli/src/report.rs` depends on nothing else in the binary crate, so it is compiled into this
//! test as it is.

// Tests fail by panicking: unwrapping is how they say "this must work".
#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "../src/report.rs"]
mod report;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use dossier::report::ReportFilter;
use dossier::{
    ArticleStatus, CaseUpdate, Category, NewArticle, NewCase, Status, Store, StoreOptions,
};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
/// 2026-10-01T00:00:00Z.
const OCTOBER: i64 = 1_790_812_800_000;
const UPI_SOP: &str = include_str!("../../core/src/sop/testdata/upi_debited_not_credited.json");
const CARD_SOP: &str = include_str!("../../core/src/sop/testdata/card_dispute_intake.json");

/// A small deterministic generator: the fixture must be the same on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

fn open(dir: &Path, site: &str, author: &str, clock: &Arc<AtomicI64>) -> Store {
    let c = clock.clone();
    Store::open(
        dir.join(format!("{site}.db")),
        StoreOptions {
            site: Some(site.into()),
            author: Some(author.into()),
            clock: Some(Arc::new(move || c.load(Ordering::SeqCst))),
            ..Default::default()
        },
    )
    .unwrap()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Publishes the SOP's draft: submitted by its author at the hub, approved by a team lead at
/// another replica (four eyes), merged back.
fn publish(dir: &Path, hub: &Store, sop: &dossier::DocId, clock: &Arc<AtomicI64>) {
    hub.submit_sop(sop).unwrap();
    let lead = open(dir, "LEAD", "amara", clock);
    lead.pull_from(hub).unwrap();
    lead.publish_sop(sop).unwrap();
    hub.pull_from(&lead).unwrap();
}

/// A hub that has merged a month of work from three vendor sites.
fn month_of_operations(dir: &Path) -> Store {
    // SOPs and articles are published in late August and September, cases opened in October.
    let clock = Arc::new(AtomicI64::new(OCTOBER - 40 * DAY));
    let hub = open(dir, "HUB", "lucia", &clock);
    let upi = hub.import_sop_json(UPI_SOP, "upi.json").unwrap().id;
    let card = hub.import_sop_json(CARD_SOP, "card.json").unwrap().id;
    publish(dir, &hub, &upi, &clock);
    publish(dir, &hub, &card, &clock);

    let mut articles = Vec::new();
    for (i, (title, market, interval)) in [
        ("UPI: money debited, not credited", "IN-UPI", 30),
        ("Pix MED: requesting a return", "BR-PIX", 20),
        ("Card chargeback reason codes", "ES", 90),
        ("PSD2 complaint deadlines", "EU", 15),
        ("Refund timelines by rail", "IN-UPI", 62),
        ("Withdrawal holds and KYC", "BR-PIX", 10),
    ]
    .iter()
    .enumerate()
    {
        let a = hub
            .create_article(NewArticle {
                title: [("en".to_string(), title.to_string())].into(),
                body: [("en".to_string(), format!("How to handle: {title}."))].into(),
                markets: vec![market.to_string()],
                interval_days: Some(*interval),
                ..Default::default()
            })
            .unwrap();
        clock.store(OCTOBER - 40 * DAY + i as i64 * 5 * DAY, Ordering::SeqCst);
        hub.set_article_status(&a.id, ArticleStatus::Published)
            .unwrap();
        articles.push(a.id);
    }

    let sites = [
        ("MX1", "diego", ["ES", "EU"]),
        ("BLR2", "priya", ["IN-UPI", "IN-UPI"]),
        ("MNL1", "joy", ["BR-PIX", "EU"]),
    ];
    let stores: Vec<Store> = sites
        .iter()
        .map(|(site, author, _)| {
            let s = open(dir, site, author, &clock);
            s.pull_from(&hub).unwrap();
            s
        })
        .collect();
    let categories = [
        (Category::FailedPayment, 30),
        (Category::Refund, 22),
        (Category::Withdrawal, 14),
        (Category::ChargebackDispute, 10),
        (Category::PaymentMethodBinding, 9),
        (Category::Fraud, 6),
        (Category::Account, 6),
        (Category::Other, 3),
    ];
    let root_causes = [
        ("psp_timeout", 24),
        ("bank_reversal_delay", 18),
        ("user_error", 14),
        ("duplicate_charge", 10),
        ("kyc_hold", 8),
        ("merchant_not_responding", 6),
        ("app_bug", 5),
        ("network_outage", 4),
        ("fraud_ring", 3),
        ("wrong_beneficiary", 2),
        ("policy_gap", 1),
    ];
    let escalations = [
        ("psp_bank", "refund not credited after T+5"),
        ("psp_bank", "reversal missing, RRN attached"),
        ("engineering", "app shows success, ledger shows failure"),
        ("product", "customer cannot cancel subscription"),
        ("risk", "suspected account takeover"),
        ("risk", "chargeback over threshold"),
    ];
    let weighted = |rng: &mut Lcg, items: &[(&'static str, u64)]| -> &'static str {
        let total: u64 = items.iter().map(|i| i.1).sum();
        let mut x = rng.below(total);
        for (v, w) in items {
            if x < *w {
                return v;
            }
            x -= w;
        }
        items[0].0
    };
    let mut rng = Lcg(7);
    for day in 0..31 {
        if day == 15 {
            // Mid-month the UPI SOP gets a clearer first question: version 2.
            hub.set_sop_text(
                &upi,
                "start",
                "en",
                "Was the money debited from the account?",
            )
            .unwrap();
            publish(dir, &hub, &upi, &clock);
            for s in &stores {
                s.pull_from(&hub).unwrap();
            }
        }
        for (si, (_, _, markets)) in sites.iter().enumerate() {
            let store = &stores[si];
            // Volume rises through the month for failed payments (an incident on day 20).
            let n = 2 + rng.below(4) + u64::from(day >= 20 && si == 1) * 3;
            for k in 0..n {
                // Cases 40 minutes apart, and the clock never goes back.
                clock.fetch_max(
                    OCTOBER + day * DAY + 8 * HOUR + (si as i64 * 8 + k as i64) * 40 * 60_000,
                    Ordering::SeqCst,
                );
                let market = *rng.pick(markets);
                let total: u64 = categories.iter().map(|c| c.1).sum();
                let mut x = rng.below(total);
                let mut category = Category::Other;
                for (c, w) in categories {
                    if x < w {
                        category = c;
                        break;
                    }
                    x -= w;
                }
                if day >= 20 && si == 1 && k >= n - 3 {
                    category = Category::FailedPayment;
                }
                let case = store
                    .create_case(NewCase::new(market, category, "Customer complaint"))
                    .unwrap();
                let now = clock.load(Ordering::SeqCst);
                // Some first replies are due in 15 minutes, a few were already due (met late).
                let first_reply = match rng.below(100) {
                    x if x < 10 => now - 30 * 60_000,
                    x if x < 30 => now + 15 * 60_000,
                    _ => now + 4 * HOUR,
                };
                store
                    .set_sla(&case.number, "first_reply", first_reply)
                    .unwrap();
                store
                    .set_sla(&case.number, "resolution", now + 72 * HOUR)
                    .unwrap();
                if rng.chance(80) {
                    store.mark_sla_met(&case.number, "first_reply").unwrap();
                }
                let root_cause = rng
                    .chance(78)
                    .then(|| weighted(&mut rng, &root_causes).to_string());
                if let Some(rc) = &root_cause {
                    store
                        .update_case(
                            &case.number,
                            CaseUpdate {
                                root_cause: Some(rc.clone()),
                                status: Some(Status::Open),
                                ..Default::default()
                            },
                        )
                        .unwrap();
                }
                if rng.chance(16) {
                    let (to, reason) = *rng.pick(&escalations);
                    store.escalate(&case.number, to, reason).unwrap();
                }
                if market == "IN-UPI" && rng.chance(85) {
                    let inputs = *rng.pick(&[
                        &["Yes", "P2P", "days_since_txn=0"][..],
                        &["Yes", "P2M", "days_since_txn=2"][..],
                        &["Yes", "P2M", "days_since_txn=9"][..],
                        &["No"][..],
                        &["Yes"][..],
                        &[][..],
                    ]);
                    store
                        .record_sop_run(&case.number, &upi, &strings(inputs))
                        .unwrap();
                }
                if matches!(market, "ES" | "EU") && rng.chance(50) {
                    let inputs = *rng.pick(&[
                        &["si_problema", "duplicado"][..],
                        &["si_problema", "no_recibido"][..],
                        &["si_problema"][..],
                        &["no"][..],
                    ]);
                    store
                        .record_sop_run(&case.number, &card, &strings(inputs))
                        .unwrap();
                }
                // Older cases are mostly solved; some wait on the customer (clocks paused).
                let age_days = 30 - day;
                let status = match rng.below(100) {
                    x if x < (50 + age_days).min(85) as u64 => Some(Status::Solved),
                    x if x < 90 => Some(Status::Pending),
                    _ => None,
                };
                if let Some(s) = status {
                    clock.fetch_add(25 * 60_000, Ordering::SeqCst);
                    store
                        .update_case(
                            &case.number,
                            CaseUpdate {
                                status: Some(s),
                                ..Default::default()
                            },
                        )
                        .unwrap();
                }
            }
        }
    }
    clock.store(OCTOBER + 31 * DAY - 6 * HOUR, Ordering::SeqCst);
    hub.verify_article(&articles[2]).unwrap();
    for s in &stores {
        hub.pull_from(s).unwrap();
    }
    hub
}

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("DOSSIER_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    path.exists().then_some(path)
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// Runs headless Chromium on `page` with `extra` flags, behind a proxy that does not exist, so
/// that any attempt to reach the network fails. Returns what it printed. (Its output goes to a
/// file, not a pipe: a DOM larger than the pipe buffer would block it until the timeout.)
fn run_chromium(browser: &Path, profile: &Path, extra: &[String], page: &Path) -> String {
    let stdout_path = profile.join("stdout.txt");
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--proxy-server=127.0.0.1:9",
        "--proxy-bypass-list=<-loopback>",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(extra)
    .arg(format!("file://{}", page.display()))
    .stdout(std::fs::File::create(&stdout_path).unwrap())
    .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "chromium failed: {status:?}");
    std::fs::read_to_string(&stdout_path).unwrap()
}

/// The URLs the page itself asked for, from Chromium's net log. A request made for a page has
/// the page's origin as initiator (`null` for an opaque `file://` origin); the browser's own
/// background requests (time sync, component updates) say `not an origin`, and the dead proxy
/// stops them.
fn page_requests(netlog: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(netlog).unwrap();
    // A log whose writer was cut short lacks its closing brackets.
    let log: serde_json::Value = serde_json::from_str(&text)
        .or_else(|_| {
            let t = text.trim_end().trim_end_matches(',');
            serde_json::from_str(&format!("{t}]}}"))
        })
        .unwrap();
    let start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
        .as_i64()
        .unwrap();
    log["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"].as_i64() == Some(start_job))
        .filter_map(|e| {
            let url = e["params"]["url"].as_str()?;
            let by_page = e["params"]["initiator"].as_str() != Some("not an origin");
            let local = url.starts_with("file:") || url.starts_with("data:");
            (by_page && !local).then(|| url.to_string())
        })
        .collect()
}

/// The `<figure class="chart">` elements of a page, each with its inner markup.
fn figures(dom: &str) -> Vec<&str> {
    dom.split("<figure class=\"chart\"")
        .skip(1)
        .map(|f| f.split("</figure>").next().unwrap_or(""))
        .collect()
}

#[test]
fn the_html_report_renders_every_chart_offline_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let hub = month_of_operations(dir.path());
    let page = dir.path().join("report.html");
    let report = report::write_html(&hub, &page, &ReportFilter::default()).unwrap();
    assert!(report.totals.cases > 300, "{}", report.totals.cases);
    assert!(report.totals.sla_breached_cases > 0);
    assert!(report.totals.articles_overdue > 0);
    assert!(
        report.sop_versions.len() >= 3,
        "UPI v1 and v2, and the card SOP"
    );

    // Nothing in the file can make a browser fetch: no scripts, no URLs to load, and the only
    // "http" strings are SVG namespace names, which are never fetched.
    let html = std::fs::read_to_string(&page).unwrap();
    for forbidden in [
        "<script", "src=", "href=", "url(", "@import", "<link", "<iframe",
    ] {
        assert!(!html.contains(forbidden), "the page contains {forbidden}");
    }
    let http = html.matches("http://").count() + html.matches("https://").count();
    let namespaces = html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count();
    assert_eq!(
        http, namespaces,
        "an http(s) URL other than the SVG namespace"
    );
    assert!(html.contains("Content-Security-Policy\" content=\"default-src 'none'"));
    let charts = figures(&html).len();
    assert!(
        charts >= 7,
        "volume, Pareto, SLA, escalations, 2 SOPs, articles: {charts}"
    );

    let Some(browser) = chromium() else {
        if std::env::var("DOSSIER_SKIP_BROWSER").as_deref() == Ok("1") {
            eprintln!("skipped: no chromium and DOSSIER_SKIP_BROWSER=1");
            return;
        }
        panic!(
            "chromium is not installed (apt-get install chromium; `cargo xtask test` does it). \
             Set DOSSIER_SKIP_BROWSER=1 to skip this test."
        );
    };

    // The DOM as the browser built it: every chart an SVG element with drawn shapes and text.
    let profile = tempfile::tempdir().unwrap();
    let netlog = dir.path().join("netlog.json");
    let dom = run_chromium(
        &browser,
        profile.path(),
        &[
            "--dump-dom".into(),
            format!("--log-net-log={}", netlog.display()),
        ],
        &page,
    );
    let rendered = figures(&dom);
    assert_eq!(rendered.len(), charts, "every chart is in the DOM");
    for (i, f) in rendered.iter().enumerate() {
        assert!(f.contains("<svg"), "chart {i} has no svg");
        let shapes = f.matches("<rect").count()
            + f.matches("<polyline").count()
            + f.matches("<circle").count()
            + f.matches("<line").count();
        let texts = f.matches("<text").count();
        assert!(
            shapes >= 3 && texts >= 1,
            "chart {i} is empty: {shapes} shapes, {texts} texts"
        );
    }
    assert_eq!(
        page_requests(&netlog),
        Vec::<String>::new(),
        "the page fetched"
    );

    // The check above can see a fetch: the same browser run on a page with one remote image.
    let control = dir.path().join("control.html");
    std::fs::write(&control, "<img src=\"http://example.invalid/x.png\">").unwrap();
    let control_log = dir.path().join("control-netlog.json");
    let profile = tempfile::tempdir().unwrap();
    run_chromium(
        &browser,
        profile.path(),
        &[
            "--dump-dom".into(),
            format!("--log-net-log={}", control_log.display()),
        ],
        &control,
    );
    assert_eq!(
        page_requests(&control_log),
        ["http://example.invalid/x.png"]
    );

    // The page as people see it: a screenshot with the charts' colours in it.
    let shot = target_dir().join("report-screenshot.png");
    std::fs::create_dir_all(shot.parent().unwrap()).unwrap();
    std::fs::copy(&page, target_dir().join("report-sample.html")).unwrap();
    let _ = std::fs::remove_file(&shot);
    let profile = tempfile::tempdir().unwrap();
    run_chromium(
        &browser,
        profile.path(),
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1200,6100".into(),
        ],
        &page,
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let pixels = &buf[..info.buffer_size()];
    let mut colours = std::collections::HashSet::new();
    let (mut blue, mut red) = (0usize, 0usize);
    for px in pixels.chunks(channels) {
        let rgb = (px[0], px[1], px[2]);
        colours.insert(rgb);
        // The chart blue (78,121,167) and the breach red (214,39,40), give or take antialiasing.
        let near = |c: (u8, u8, u8)| {
            rgb.0.abs_diff(c.0) < 12 && rgb.1.abs_diff(c.1) < 12 && rgb.2.abs_diff(c.2) < 12
        };
        blue += usize::from(near((78, 121, 167)));
        red += usize::from(near((214, 39, 40)));
    }
    assert!(
        colours.len() > 50,
        "the screenshot is blank: {} colours",
        colours.len()
    );
    assert!(
        blue > 2_000,
        "no chart bars or lines in the screenshot: {blue} blue pixels"
    );
    assert!(
        red > 500,
        "no breach bars in the screenshot: {red} red pixels"
    );
}
