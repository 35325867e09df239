//! A deliberately hostile workflow plugin for `dossier-plugins`' sandbox tests.
//!
//! It is written straight against the WIT with `wit-bindgen` (not the SDK) so the host's tests
//! depend on nothing but the contract. The case field `attack` picks what it does:
//!
//! | `attack` | behaviour |
//! | --- | --- |
//! | unset | harmless: tags the case `sandbox-ok`, logs a line, echoes `lookup("greetings", "hello")` into the field `greeting` when the table has it |
//! | `loop` | spins forever |
//! | `membomb` | allocates 1 MiB blocks until allocation fails |
//! | `recursion` | recurses without bound |
//! | `huge-output` | returns 20 000 actions (over the output limit, within memory and fuel) |
//! | `huge-string` | returns one note of 4 MiB |
//! | `log-flood` | logs 10 000 lines of 4 KiB, then behaves harmlessly |
//! | `trap` | panics (an `unreachable` trap) |
//! | `invalid-action` | escalates to an empty team |
//! | `refuse-outside-solve` | refuses a solve whatever the trigger |
//! | `fs` | reads `/etc/passwd` and lists `/` |
//! | `net` | connects to `127.0.0.1:<field port>` |
//! | `env` | reads the environment and the arguments |
//! | `clock` | reads `SystemTime::now`, `Instant` and random bytes and reports them in a note |
//! | `sleep` | `std::thread::sleep`s for 6 s, then behaves harmlessly |
//! | `poll-loop` | polls WASI monotonic-clock pollables (6 s from now, 6 s long) until they are ready, then behaves harmlessly |
//! | `host-call-loop` | calls `lookup` and `log` forever |
//! | `stderr` | writes two lines to stderr, then behaves harmlessly |
//! | `log-then-panic` | logs a line with a card number, then panics with another |
//!
//! For `fs`, `net` and `env` it returns the step error `denied` when every access failed and
//! `allowed` (with what it saw) when any succeeded, so a test can assert on the code.

#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code, missing_docs, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        path: "../wit/v0.1.0",
        world: "plugin",
    });
}

#[cfg(target_arch = "wasm32")]
mod guest {
    use std::hint::black_box;

    use crate::bindings::dossier::workflow::host::{self, Level};
    use crate::bindings::dossier::workflow::types::{
        Action, CaseSnapshot, Escalation, Field, Note, StepError, StepInfo, Trigger,
    };
    use crate::bindings::exports::dossier::workflow::step::Guest;

    struct Hostile;

    fn field<'a>(case: &'a CaseSnapshot, name: &str) -> Option<&'a str> {
        case.fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.value.as_str())
    }

    fn verdict(allowed: bool, what: String) -> Result<Vec<Action>, StepError> {
        Err(StepError {
            code: if allowed { "allowed" } else { "denied" }.into(),
            message: what,
        })
    }

    fn harmless() -> Vec<Action> {
        host::log(Level::Info, "hostile plugin: harmless path");
        let mut out = vec![Action::AddTag("sandbox-ok".into())];
        if let Some(v) = host::lookup("greetings", "hello") {
            out.push(Action::SetField(Field {
                name: "greeting".into(),
                value: v,
            }));
        }
        out
    }

    #[inline(never)]
    fn recurse(n: u64) -> u64 {
        let pad = black_box([n; 16]);
        if black_box(n) == u64::MAX {
            return pad[0];
        }
        recurse(n + 1).wrapping_add(pad[3])
    }

    impl Guest for Hostile {
        fn describe() -> StepInfo {
            StepInfo {
                name: "hostile".into(),
                version: "0.1.0".into(),
                markets: vec!["IN-UPI".into()],
                triggers: vec![
                    Trigger::CaseCreated,
                    Trigger::CaseUpdated,
                    Trigger::SlaCheck,
                ],
                description: "Sandbox test plugin: misbehaves on request".into(),
            }
        }

        fn evaluate(_trigger: Trigger, case: CaseSnapshot) -> Result<Vec<Action>, StepError> {
            match field(&case, "attack").unwrap_or("") {
                "" => Ok(harmless()),
                "loop" => {
                    let mut i = 0u64;
                    loop {
                        i = black_box(i.wrapping_add(1));
                    }
                }
                "membomb" => {
                    let mut hoard: Vec<Vec<u8>> = Vec::new();
                    loop {
                        let mut block = vec![0u8; 1 << 20];
                        block[black_box(4096)] = 1;
                        hoard.push(black_box(block));
                    }
                }
                "recursion" => Ok(vec![Action::AddTag(format!("r{}", recurse(0)))]),
                "huge-output" => Ok(vec![Action::AddTag("flood".into()); 20_000]),
                "huge-string" => Ok(vec![Action::AddNote(Note {
                    body: "x".repeat(4 << 20),
                    public: false,
                })]),
                "log-flood" => {
                    let line = "y".repeat(4_096);
                    for _ in 0..10_000 {
                        host::log(Level::Debug, &line);
                    }
                    Ok(harmless())
                }
                "trap" => panic!("hostile plugin panics on purpose"),
                "invalid-action" => Ok(vec![
                    Action::AddTag("fine".into()),
                    Action::Escalate(Escalation {
                        to: String::new(),
                        reason: "nobody".into(),
                    }),
                ]),
                "refuse-outside-solve" => Ok(vec![Action::RefuseSolve("no".into())]),
                "fs" => {
                    let read = std::fs::read("/etc/passwd");
                    let list = std::fs::read_dir("/");
                    let cwd = std::fs::read_dir(".");
                    let allowed = read.is_ok() || list.is_ok() || cwd.is_ok();
                    verdict(
                        allowed,
                        format!(
                            "read /etc/passwd: {:?}; list /: {:?}; list .: {:?}",
                            read.map(|b| b.len()).map_err(|e| e.kind()),
                            list.map(|_| "listed").map_err(|e| e.kind()),
                            cwd.map(|_| "listed").map_err(|e| e.kind()),
                        ),
                    )
                }
                "net" => {
                    let port = field(&case, "port").unwrap_or("9");
                    let r = std::net::TcpStream::connect(format!("127.0.0.1:{port}"));
                    let allowed = r.is_ok();
                    verdict(
                        allowed,
                        format!("connect 127.0.0.1:{port}: {:?}", r.map(|_| "connected")),
                    )
                }
                "env" => {
                    let vars: Vec<(String, String)> = std::env::vars().collect();
                    let args: Vec<String> = std::env::args().collect();
                    let cwd = std::env::current_dir();
                    verdict(
                        !vars.is_empty() || !args.is_empty(),
                        format!(
                            "{} environment variables, {} arguments, current dir {:?}",
                            vars.len(),
                            args.len(),
                            cwd.map_err(|e| e.kind())
                        ),
                    )
                }
                "clock" => {
                    let wall = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_millis() as i64)
                        .unwrap_or(-1);
                    let start = std::time::Instant::now();
                    let mut x = 0u64;
                    for i in 0..10_000u64 {
                        x = black_box(x ^ i);
                    }
                    let elapsed = start.elapsed().as_nanos();
                    let mut map = std::collections::HashMap::new();
                    map.insert(x, 0u8);
                    Ok(vec![
                        Action::SetField(Field {
                            name: "wall-ms".into(),
                            value: wall.to_string(),
                        }),
                        Action::SetField(Field {
                            name: "elapsed-ns".into(),
                            value: elapsed.to_string(),
                        }),
                        Action::SetField(Field {
                            name: "hash-order".into(),
                            value: format!(
                                "{:?}",
                                std::collections::hash_map::RandomState::new().hash_one(42u64)
                            ),
                        }),
                    ])
                }
                "sleep" => {
                    std::thread::sleep(std::time::Duration::from_secs(6));
                    Ok(harmless())
                }
                "poll-loop" => {
                    use wasi::clocks::monotonic_clock;
                    const SIX_S: u64 = 6_000_000_000;
                    let at = monotonic_clock::subscribe_instant(monotonic_clock::now() + SIX_S);
                    let after = monotonic_clock::subscribe_duration(SIX_S);
                    for pollable in [&at, &after] {
                        while wasi::io::poll::poll(&[pollable]).is_empty() {}
                    }
                    Ok(harmless())
                }
                "host-call-loop" => loop {
                    black_box(host::lookup("greetings", "hello"));
                    host::log(Level::Debug, "again");
                },
                "stderr" => {
                    eprintln!("hostile plugin: first stderr line");
                    eprintln!("hostile plugin: second stderr line");
                    Ok(harmless())
                }
                "log-then-panic" => {
                    host::log(
                        Level::Warn,
                        "checking card 4111111111111111 before giving up",
                    );
                    panic!("hostile plugin gives up on card 5555555555554444")
                }
                other => Err(StepError {
                    code: "unknown-attack".into(),
                    message: format!("no attack named {other:?}"),
                }),
            }
        }
    }

    use std::hash::BuildHasher;

    // The generated export glue is `unsafe` ABI code; nothing hand-written here is.
    #[allow(unsafe_code)]
    const _: () = {
        crate::bindings::export!(Hostile with_types_in crate::bindings);
    };
}
