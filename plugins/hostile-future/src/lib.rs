//! A plugin built against an imaginary `dossier:workflow@0.2.0` (the real WIT with one more
//! trigger, copied into `wit/`). `dossier-plugins` must refuse it as incompatible before it
//! compiles a byte of it.

#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code, missing_docs, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "plugin",
    });
}

#[cfg(target_arch = "wasm32")]
mod guest {
    use crate::bindings::dossier::workflow::types::{
        Action, CaseSnapshot, StepError, StepInfo, Trigger,
    };
    use crate::bindings::exports::dossier::workflow::step::Guest;

    struct Future;

    impl Guest for Future {
        fn describe() -> StepInfo {
            StepInfo {
                name: "from-the-future".into(),
                version: "9.0.0".into(),
                markets: vec!["IN-UPI".into()],
                triggers: vec![Trigger::CustomerReplied],
                description: "Built for an API this host does not speak".into(),
            }
        }

        fn evaluate(_trigger: Trigger, _case: CaseSnapshot) -> Result<Vec<Action>, StepError> {
            Ok(vec![Action::AddTag("from-the-future".into())])
        }
    }

    // The generated export glue is `unsafe` ABI code; nothing hand-written here is.
    #[allow(unsafe_code)]
    const _: () = {
        crate::bindings::export!(Future with_types_in crate::bindings);
    };
}
