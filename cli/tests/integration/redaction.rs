//! Card numbers typed on the command line never reach the disk (DESIGN §5, PCI DSS 3.3/3.4):
//! after pasting them into every free-text input a case has, no byte sequence of the original
//! number — with or without separators — is in any file of the store.

use crate::Env;

/// Luhn-valid test numbers of several brands and lengths, with their usual grouping.
const CARDS: &[(&str, &[usize])] = &[
    ("4111111111111111", &[4, 4, 4, 4]),       // Visa
    ("4012888888881881", &[4, 4, 4, 4]),       // Visa
    ("2223000048400011", &[4, 4, 4, 4]),       // Mastercard 2-series
    ("5555555555554444", &[4, 4, 4, 4]),       // Mastercard
    ("378282246310005", &[4, 6, 5]),           // Amex, 15 digits
    ("6759649826438453011", &[4, 4, 4, 4, 3]), // Maestro, 19 digits
];

fn grouped(digits: &str, groups: &[usize], sep: &str) -> String {
    let mut parts = Vec::new();
    let mut at = 0;
    for g in groups {
        parts.push(&digits[at..at + g]);
        at += g;
    }
    parts.join(sep)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn card_numbers_in_every_format_and_input_never_reach_any_store_file() {
    let env = Env::init("MX1");
    for (i, (digits, groups)) in CARDS.iter().enumerate() {
        let plain = digits.to_string();
        let spaced = grouped(digits, groups, " ");
        let dashed = grouped(digits, groups, "-");
        let subject = format!("Charged twice on card {plain}");
        let description = format!("My card is {spaced}, cvv 123. Or maybe {dashed}.");
        let field = format!("card={dashed}");
        let field2 = format!("pasted={spaced}");
        let out = env.run(&[
            "case",
            "new",
            "--market",
            "ES",
            "--category",
            "chargeback_dispute",
            "--subject",
            &subject,
            "--description",
            &description,
            "--field",
            &field,
            "--field",
            &field2,
        ]);
        assert_eq!(out.code, 0, "{out:?}");
        assert!(
            out.stderr.contains("card_number removed from subject"),
            "{out:?}"
        );
        let number = format!("MX1-{}", i + 1);
        env.ok(&[
            "case",
            "note",
            &number,
            &format!("Customer repeated it: {dashed} / {plain}"),
        ]);
        env.ok(&[
            "case",
            "update",
            &number,
            "--field",
            &format!("again={plain}"),
        ]);
        env.ok(&[
            "case",
            "escalate",
            &number,
            "--to",
            "risk",
            "--reason",
            &format!("card {spaced}"),
        ]);

        let case = env.json(&["case", "show", &number]);
        let stars = "*".repeat(digits.len() - 10);
        let masked = format!("{}{stars}{}", &digits[..6], &digits[digits.len() - 4..]);
        assert_eq!(case["subject"], format!("Charged twice on card {masked}"));
        assert!(
            case["description"]
                .as_str()
                .is_some_and(|d| d.contains("cvv [removed]")),
            "{case}"
        );
        assert_eq!(case["fields"]["card"], masked);
    }

    let mut scanned = 0;
    let mut masked_seen = false;
    for entry in std::fs::read_dir(env.path()).expect("read dir") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("read store file");
        scanned += 1;
        // The projection tables hold the subject as plain text: seeing the masked form proves
        // the scan reads what SQLite wrote.
        masked_seen |= contains(&bytes, "411111******1111");
        for (digits, groups) in CARDS {
            for form in [
                digits.to_string(),
                grouped(digits, groups, " "),
                grouped(digits, groups, "-"),
            ] {
                assert!(
                    !contains(&bytes, &form),
                    "{form} found in {}",
                    path.display()
                );
            }
        }
        assert!(
            !contains(&bytes, "cvv 123"),
            "cvv found in {}",
            path.display()
        );
    }
    assert!(scanned >= 1);
    assert!(
        masked_seen,
        "the masked subject should be visible in the raw file"
    );
}

#[test]
fn doctor_finds_card_data_an_old_store_holds_and_names_the_case_never_the_number() {
    let env = Env::init("MX1");
    env.ok(&[
        "case",
        "new",
        "--market",
        "ES",
        "--category",
        "refund",
        "--subject",
        "Refund",
    ]);
    let clean = env.ok(&["doctor"]);
    assert!(clean.contains("card data: none found"), "{clean}");
    assert!(clean.contains("integrity: ok"), "{clean}");

    dossier_tests::plant_card_in_history(&env.file("dossier.db"), "MX1-1", "5555555555554444");
    let out = env.fail(&["doctor"], 1);
    assert!(
        out.stdout
            .contains("card_number (mastercard) in the history of case MX1-1"),
        "{out:?}"
    );
    assert!(out.stdout.contains("field key"), "{out:?}");
    assert!(
        out.stderr.contains("place(s) with card data found"),
        "{out:?}"
    );
    let json = env.run(&["--json", "doctor"]);
    assert_eq!(json.code, 1, "{json:?}");
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let findings = v["card_data"]["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f["place"]["label"] == "case MX1-1" && f["place"]["in"] == "history"),
        "{v}"
    );
    for text in [&out.stdout, &out.stderr, &json.stdout] {
        assert!(!text.contains("5555555555554444"), "{text}");
        assert!(!text.contains("5555 5555"), "{text}");
    }
}
